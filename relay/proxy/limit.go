package proxy

import (
	"bytes"
	"io"
	"mime"
	"net/http"
)

// capped bounds what the server can make the proxy hold: a JSON body at
// MaxMessage in all, an event stream at MaxMessage per line (sse.go also
// caps one event's data at MaxMessage).
func capped(resp *http.Response) *http.Response {
	if resp == nil {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	total := int64(-1)
	if mt != "text/event-stream" {
		total = MaxMessage
	}
	resp.Body = &limitBody{rc: resp.Body, max: MaxMessage, left: total}
	return resp
}

// limitBody fails once a line grows past max bytes, or the body past left
// bytes (left < 0: no total bound).
type limitBody struct {
	rc   io.ReadCloser
	max  int
	n    int // bytes since the last newline
	left int64
}

func (l *limitBody) Read(p []byte) (int, error) {
	n, err := l.rc.Read(p)
	if l.left >= 0 {
		if l.left -= int64(n); l.left < 0 {
			return 0, ErrMessageTooLarge
		}
	}
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

func (l *limitBody) Close() error { return l.rc.Close() }
