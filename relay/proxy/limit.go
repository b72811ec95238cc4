package proxy

import (
	"io"
	"mime"
	"net/http"

	"github.com/keyrelay/keyrelay/internal/lines"
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
	resp.Body = &limitBody{rc: resp.Body, r: lines.Limit(resp.Body, MaxMessage, ErrMessageTooLarge), left: total}
	return resp
}

// limitBody fails once a line grows past MaxMessage (lines.Limit), or the
// whole body past left bytes (left < 0: no total bound).
type limitBody struct {
	rc   io.ReadCloser
	r    io.Reader // rc through lines.Limit
	left int64
}

func (l *limitBody) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if l.left >= 0 {
		if l.left -= int64(n); l.left < 0 {
			return 0, ErrMessageTooLarge
		}
	}
	return n, err
}

func (l *limitBody) Close() error { return l.rc.Close() }
