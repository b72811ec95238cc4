package transport

import (
	"bytes"
	"io"
	"sync"

	"github.com/keyrelay/keyrelay/relay/front"
)

// eventPipe is an event stream made by the proxy (legacysse.go): the
// writer pushes messages, framed as SSE events, without ever blocking; the
// reader reads them. At most maxQueued bytes wait unread: a message past
// that is refused. Safe for concurrent use.
type eventPipe struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	err     error // once buf is read: io.EOF, or why the stream ended
	closed  bool  // the reader closed it
	ready   chan struct{}
	onClose func()
}

const maxQueued = 2 * front.MaxMessage

func newEventPipe(onClose func()) *eventPipe {
	return &eventPipe{ready: make(chan struct{}, 1), onClose: onClose}
}

// push queues one message as an event; false if the pipe is closed,
// ended, or full.
func (p *eventPipe) push(data []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.err != nil || p.buf.Len()+len(data) > maxQueued {
		return false
	}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		p.buf.WriteString("data: ")
		p.buf.Write(line)
		p.buf.WriteByte('\n')
	}
	p.buf.WriteByte('\n')
	p.signal()
	return true
}

// end ends the stream with err once what is queued has been read.
func (p *eventPipe) end(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
		p.signal()
	}
}

func (p *eventPipe) signal() {
	select {
	case p.ready <- struct{}{}:
	default:
	}
}

func (p *eventPipe) Read(b []byte) (int, error) {
	for {
		p.mu.Lock()
		switch {
		case p.closed:
			p.mu.Unlock()
			return 0, io.ErrClosedPipe
		case p.buf.Len() > 0:
			n, _ := p.buf.Read(b)
			p.mu.Unlock()
			return n, nil
		case p.err != nil:
			err := p.err
			p.mu.Unlock()
			return 0, err
		}
		p.mu.Unlock()
		<-p.ready
	}
}

// Close ends reading; what is queued is dropped.
func (p *eventPipe) Close() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	first := !p.closed
	p.closed = true
	p.buf.Reset()
	p.signal()
	p.mu.Unlock()
	if first && p.onClose != nil {
		p.onClose()
	}
	return nil
}
