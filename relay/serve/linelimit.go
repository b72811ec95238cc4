package serve

import (
	"bytes"
	"fmt"
	"io"
)

// MaxMessage bounds one JSON-RPC message (one line) on stdin. mcp-go reads
// a whole line into memory, so without a bound a client sending an endless
// line would grow the relay until the system kills it. The backend takes at
// most 1 MiB per tool call; 16 MiB leaves room for any real message.
const MaxMessage = 16 << 20

// ErrMessageTooLarge ends the stdio stream when a line exceeds MaxMessage.
var ErrMessageTooLarge = fmt.Errorf("serve: a message on stdin is over %d MiB", MaxMessage>>20)

// lineLimit passes r through and fails once a line grows past max bytes.
type lineLimit struct {
	r   io.Reader
	max int
	n   int // bytes since the last newline
}

func (l *lineLimit) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	chunk := p[:n]
	for {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			l.n += len(chunk)
			break
		}
		if l.n+i > l.max {
			return 0, ErrMessageTooLarge
		}
		l.n, chunk = 0, chunk[i+1:]
	}
	if l.n > l.max {
		return 0, ErrMessageTooLarge
	}
	return n, err
}
