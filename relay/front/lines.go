package front

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
)

// lineReader reads newline-delimited messages of at most max bytes from
// the client. A line over max is read to its end and dropped, and reported
// as ErrMessageTooLarge: the stream goes on, and memory stays bounded by
// max plus the buffer. A last line without a newline is a message too.
type lineReader struct {
	br   *bufio.Reader
	max  int
	long []byte // a line longer than br's buffer, until the next call
}

// newLineReader reads r; lines within 64 KiB are returned from the
// buffer without a copy.
func newLineReader(r io.Reader, max int) *lineReader {
	return newLineReaderSize(r, max, 64<<10)
}

func newLineReaderSize(r io.Reader, max, size int) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, size), max: max}
}

// next returns the next line, valid until the following call; io.EOF at
// the end of input.
func (r *lineReader) next() ([]byte, error) {
	if cap(r.long) > 1<<20 {
		r.long = nil // do not keep a huge buffer after one huge message
	}
	line, err := r.br.ReadSlice('\n')
	switch {
	case err == nil:
		return r.checked(line)
	case errors.Is(err, bufio.ErrBufferFull):
		return r.longLine(line)
	case errors.Is(err, io.EOF) && len(line) > 0:
		return r.checked(line)
	}
	return nil, err
}

// longLine reads the rest of a line longer than the buffer. It holds at
// most max bytes and a line end: once the line is sure to be longer, the
// rest is skipped. Past 1 MiB the buffer grows once, to that bound, rather
// than by steps whose garbage would outweigh it.
func (r *lineReader) longLine(first []byte) ([]byte, error) {
	r.long = append(r.long[:0], first...)
	for {
		more, err := r.br.ReadSlice('\n')
		n := len(r.long) + len(more)
		if n > r.max+len("\r\n") {
			return nil, r.skip(err)
		}
		if n > cap(r.long) && len(r.long) >= 1<<20 {
			r.long = slices.Grow(r.long, r.max+len("\r\n")-len(r.long))
		}
		r.long = append(r.long, more...)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == nil, errors.Is(err, io.EOF):
			return r.checked(r.long)
		}
		return nil, err
	}
}

// skip discards the rest of a line over max.
func (r *lineReader) skip(err error) error {
	r.long = r.long[:0]
	for errors.Is(err, bufio.ErrBufferFull) {
		_, err = r.br.ReadSlice('\n')
	}
	if err == nil || errors.Is(err, io.EOF) {
		return ErrMessageTooLarge
	}
	return err
}

func (r *lineReader) checked(line []byte) ([]byte, error) {
	if content(line) > r.max {
		return nil, ErrMessageTooLarge
	}
	return line, nil
}

// content is the length of line without its line end (LF or CRLF).
func content(line []byte) int {
	n := len(line)
	if n > 0 && line[n-1] == '\n' {
		n--
	}
	if n > 0 && line[n-1] == '\r' {
		n--
	}
	return n
}

// writer writes messages to the client, one per line, whole. It is safe
// for concurrent use. A failed write is sticky and logged once; after
// close, nothing more is written.
type writer struct {
	mu     sync.Mutex
	w      io.Writer
	log    *slog.Logger
	err    error
	closed bool
}

func (w *writer) send(m *Message) error {
	if m == nil {
		return nil
	}
	b, err := appendMessage(make([]byte, 0, 256+len(m.Params)+len(m.Result)), m)
	if err != nil {
		w.log.Error("cannot encode a message to the client", "err", err)
		return err
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.err != nil:
		return w.err
	case w.closed:
		return io.ErrClosedPipe
	}
	if _, w.err = w.w.Write(b); w.err != nil {
		w.log.Warn("cannot write to the client", "err", w.err)
	}
	return w.err
}

func (w *writer) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

// appendMessage appends m's JSON to b, as json.Marshal would write it but
// without a second pass over the raw members (id, params, result), which
// come from json.Marshal or out of a document json.Unmarshal checked: one
// with a line end in it (a server's indented JSON) is compacted, so that
// a message is always one line.
func appendMessage(b []byte, m *Message) ([]byte, error) {
	var err error
	b = append(b, `{"jsonrpc":`...)
	b = appendString(b, m.JSONRPC)
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{`,"id":`, m.ID}, {`,"method":`, nil}, {`,"params":`, m.Params}, {`,"result":`, m.Result}} {
		switch {
		case f.name == `,"method":`:
			if m.Method != "" {
				b = appendString(append(b, f.name...), m.Method)
			}
		case len(f.raw) > 0:
			if b, err = appendRaw(append(b, f.name...), f.raw); err != nil {
				return nil, err
			}
		}
	}
	if m.Error != nil {
		e, err := json.Marshal(m.Error)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"error":`...), e...)
	}
	return append(b, '}'), nil
}

func appendRaw(b, raw []byte) ([]byte, error) {
	if bytes.IndexByte(raw, '\n') < 0 && bytes.IndexByte(raw, '\r') < 0 {
		return append(b, raw...), nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	return append(b, buf.Bytes()...), nil
}

func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}
