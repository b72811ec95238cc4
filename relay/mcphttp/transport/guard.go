package transport

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/keyrelay/keyrelay/internal/lines"
	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/front"
)

// ErrOtherURL refuses a request to any URL but the MCP URL (and a legacy
// SSE server's accepted message endpoint): the token and the custom
// headers never go anywhere else.
var ErrOtherURL = errors.New("mcphttp: refusing to send credentials to a URL other than the MCP URL")

// Guard sits above the auth layer: it refuses every request to a URL other
// than Target (same scheme, host and path, no userinfo) or the accepted
// message endpoint of a legacy SSE server, before any token is sought. It
// is safe for concurrent use.
type Guard struct {
	Next     http.RoundTripper
	Target   *url.URL
	endpoint atomic.Pointer[url.URL]
}

// RoundTrip implements http.RoundTripper.
func (g *Guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if !sameEndpoint(req.URL, g.Target) && !isEndpoint(req.URL, g.endpoint.Load()) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, ErrOtherURL
	}
	return g.Next.RoundTrip(req)
}

// AllowEndpoint lets requests go to u too: the message endpoint of a
// legacy SSE server, checked by messageEndpoint. It replaces the last one.
func (g *Guard) AllowEndpoint(u *url.URL) { g.endpoint.Store(u) }

// sameEndpoint reports whether u is the MCP URL: same scheme, host and
// path, no userinfo.
func sameEndpoint(u, target *url.URL) bool {
	return u.User == nil && strings.EqualFold(u.Scheme, target.Scheme) && strings.EqualFold(u.Host, target.Host) &&
		strings.TrimSuffix(u.EscapedPath(), "/") == strings.TrimSuffix(target.EscapedPath(), "/")
}

// Header is one custom header sent with every request (RELAY_HEADERS): an
// API key, often, so its value is a secret, never logged.
type Header struct {
	Name  string
	Value secret.Value
}

// Headers sits under the auth layer: it adds the custom headers to every
// request, and caps what the server can make the relay hold (capped).
type Headers struct {
	Base http.RoundTripper
	List []Header
}

// RoundTrip implements http.RoundTripper.
func (h *Headers) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(h.List) > 0 {
		req = req.Clone(req.Context())
		for _, c := range h.List {
			req.Header.Set(c.Name, c.Value.Reveal())
		}
	}
	resp, err := h.Base.RoundTrip(req)
	return capped(resp), err
}

// capped bounds a body: a JSON body at MaxMessage in all, an event stream
// at MaxMessage per line (sse.go also caps one event's data).
func capped(resp *http.Response) *http.Response {
	if resp == nil {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	total := int64(-1)
	if mt != "text/event-stream" {
		total = front.MaxMessage
	}
	resp.Body = &limitBody{rc: resp.Body, r: lines.Limit(resp.Body, front.MaxMessage, front.ErrMessageTooLarge), left: total}
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
			return 0, front.ErrMessageTooLarge
		}
	}
	return n, err
}

func (l *limitBody) Close() error { return l.rc.Close() }

// drain discards a little of an unused body and closes it, so the
// connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
}
