package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/relay/authhttp"
	"github.com/keyrelay/keyrelay/relay/front"
)

// LegacySSE is the legacy HTTP+SSE transport (MCP 2024-11-05): a GET to
// the MCP URL opens an event stream whose first event, endpoint, names the
// URL to POST messages to (endpoint.go checks it); every POST is answered
// 202, and the responses and the server's own messages come as message
// events on the one stream, responses matched to requests by id. The
// stream is the session: when it ends, the session is over.
//
// It is an http.RoundTripper under the Streamable HTTP client
// (streamable.go), which keeps the session, dispatches the server's
// messages and answers its requests the same way for both transports: a
// POST of a request gets a 200 event stream carrying its response; a POST
// of anything else gets 202; the GET gets the stream of the server's
// messages that belong to no request; DELETE ends the session. A message
// from the server other than a response goes on the stream of the one
// request in flight, if there is exactly one (so that sampling during a
// call belongs to that call), else on the GET's. Once the stream has
// ended, requests in flight fail with ErrStreamDropped, and a request
// carrying the session's id gets 404, so the proxy starts a new session.
// Its methods are safe for concurrent use.
type LegacySSE struct {
	target *url.URL
	http   *http.Client // the auth layer
	allow  func(*url.URL)
	lost   func() // once, when the stream ends by itself
	log    *slog.Logger
	wait   time.Duration // for the endpoint event

	ctx    context.Context // the stream's lifetime
	cancel context.CancelFunc

	mu       sync.Mutex
	endpoint *url.URL
	session  string // the Mcp-Session-Id the Streamable HTTP client is given
	ended    bool
	closing  bool // close was called
	pending  map[string]*eventPipe
	listener *eventPipe
	handed   bool // the listener went to a GET
}

// ErrStreamDropped fails the requests in flight when the legacy SSE stream
// ends: their responses can no longer come, and they may have run.
var ErrStreamDropped = errors.New("mcphttp: the MCP server's SSE stream (legacy HTTP+SSE transport) dropped before the response; the request may or may not have run")

// legacySessions numbers the sessions' ids.
var legacySessions atomic.Int64

// NewLegacySSE makes the transport of one session at target, over hc (the
// guard and the auth layer). allow is told the message endpoint once it
// is accepted (Guard.AllowEndpoint); lost is called once if the stream
// ends by itself. Nil ones do nothing.
func NewLegacySSE(ctx context.Context, target *url.URL, hc *http.Client, log *slog.Logger, allow func(*url.URL), lost func()) *LegacySSE {
	ctx, cancel := context.WithCancel(ctx)
	n := legacySessions.Add(1)
	if allow == nil {
		allow = func(*url.URL) {}
	}
	if lost == nil {
		lost = func() {}
	}
	return &LegacySSE{target: target, http: hc, log: log, wait: 30 * time.Second, ctx: ctx, cancel: cancel,
		allow: allow, lost: lost, session: "legacy-sse-" + strconv.FormatInt(n, 10),
		pending: map[string]*eventPipe{}, listener: newEventPipe(nil)}
}

// Connect opens the stream and reads the endpoint event. The stream keeps
// ctx's options (a sign-in UI, or quiet) but not its end: ctx bounds only
// the wait for the endpoint.
func (l *LegacySSE) Connect(ctx context.Context) error {
	mode := authhttp.SignIn // the stream's GET may sign in, unlike other GETs
	if m := authhttp.ModeFrom(ctx); m == authhttp.Cached || m == authhttp.Probe {
		mode = m // a quiet reconnection stays quiet
	}
	sctx, cancel := context.WithCancel(authhttp.WithMode(context.WithoutCancel(ctx), mode))
	stopSession := context.AfterFunc(l.ctx, cancel)
	stopDial := context.AfterFunc(ctx, cancel)
	defer stopDial()
	fail := func(err error) error { stopSession(); cancel(); return err }
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, l.target.String(), nil)
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := l.http.Do(req)
	switch {
	case err != nil:
		return fail(err)
	case resp.StatusCode != http.StatusOK:
		drain(resp)
		return fail(&StatusError{Status: resp.StatusCode})
	case mediaType(resp) != "text/event-stream":
		resp.Body.Close()
		return fail(fmt.Errorf("the MCP server answered the SSE GET with content type %q", front.Scrub(resp.Header.Get("Content-Type"))))
	}
	r := newSSEReader(resp.Body, front.MaxMessage)
	timer := time.AfterFunc(l.wait, func() { resp.Body.Close() })
	ev, err := r.next()
	late := !timer.Stop()
	switch {
	case late:
		err = fmt.Errorf("the MCP server's SSE stream named no message endpoint within %v", l.wait)
	case err != nil:
		err = fmt.Errorf("the MCP server's SSE stream ended before naming its message endpoint: %w", noEOF(err))
	case ev.name != "endpoint":
		err = errors.New("the MCP server's SSE stream did not start with an endpoint event: it may not speak the legacy HTTP+SSE transport")
	}
	var u *url.URL
	if err == nil {
		u, err = messageEndpoint(l.target, string(ev.data))
	}
	if err != nil {
		resp.Body.Close()
		return fail(err)
	}
	l.allow(u)
	l.mu.Lock()
	l.endpoint = u
	l.mu.Unlock()
	go func() {
		defer func() { stopSession(); cancel() }()
		l.run(r, resp.Body)
	}()
	return nil
}

// run reads the stream until it ends, routing each message.
func (l *LegacySSE) run(r *sseReader, body io.ReadCloser) {
	defer body.Close()
	var err error
	for {
		var ev event
		if ev, err = r.next(); err != nil {
			break
		}
		if ev.name != "message" {
			l.log.Debug("skipped an SSE event", "event", front.Scrub(ev.name))
			continue
		}
		l.route(ev.data)
	}
	if l.end() {
		l.log.Info("the MCP server's SSE stream ended", "err", noEOF(err))
		l.lost()
	}
}

// route passes one message from the server to the stream it belongs to.
func (l *LegacySSE) route(data []byte) {
	var m front.Message
	if json.Unmarshal(data, &m) != nil {
		l.log.Debug("skipped an event that is not a JSON-RPC message", "bytes", len(data))
		return
	}
	l.mu.Lock()
	var to *eventPipe
	if m.IsResponse() {
		k := front.IDKey(m.ID)
		to = l.pending[k]
		delete(l.pending, k)
		l.mu.Unlock()
		if to == nil {
			l.log.Debug("skipped a response to no request in flight")
			return
		}
		to.push(data)
		to.end(io.EOF)
		return
	}
	to = l.listener
	if len(l.pending) == 1 {
		for _, p := range l.pending {
			to = p
		}
	}
	l.mu.Unlock()
	if !to.push(data) {
		l.log.Debug("dropped a message from the MCP server that nobody reads", "method", front.Scrub(m.Method))
	}
}

// end marks the session over, fails the requests in flight and ends the
// GET's stream. It reports whether the stream ended by itself (not by
// close), the first time only.
func (l *LegacySSE) end() bool {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return false
	}
	l.ended = true
	pending, listener, byItself := l.pending, l.listener, !l.closing
	l.pending = map[string]*eventPipe{}
	l.mu.Unlock()
	for _, p := range pending {
		p.end(ErrStreamDropped)
	}
	listener.end(io.EOF)
	l.cancel()
	return byItself
}

// Close ends the session.
func (l *LegacySSE) Close() {
	l.mu.Lock()
	l.closing = true
	l.mu.Unlock()
	l.end()
}

func (l *LegacySSE) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.Method {
	case http.MethodPost:
		return l.post(req)
	case http.MethodGet:
		return l.listen(req)
	case http.MethodDelete:
		l.Close()
		return synthetic(req, http.StatusNoContent, nil, nil), nil
	}
	return synthetic(req, http.StatusMethodNotAllowed, nil, nil), nil
}

// post sends the message to the endpoint. A request's answer is the event
// stream its response will come on.
func (l *LegacySSE) post(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(io.LimitReader(req.Body, front.MaxMessage+1))
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	if len(body) > front.MaxMessage {
		return nil, front.ErrMessageTooLarge
	}
	var m front.Message
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, errors.New("mcphttp: not a JSON-RPC message")
	}
	l.mu.Lock()
	if id := req.Header.Get("Mcp-Session-Id"); l.ended || (id != "" && id != l.session) {
		l.mu.Unlock()
		return synthetic(req, http.StatusNotFound, nil, nil), nil
	}
	var pipe *eventPipe
	if m.IsRequest() {
		k := front.IDKey(m.ID)
		if l.pending[k] != nil {
			l.mu.Unlock()
			return nil, errors.New("mcphttp: a request with the same id is in flight at the MCP server")
		}
		pipe = newEventPipe(nil)
		pipe.onClose = func() { l.forget(k, pipe) }
		l.pending[k] = pipe
	}
	endpoint := l.endpoint
	l.mu.Unlock()
	resp, err := l.send(req.Context(), endpoint, body)
	if err == nil && resp.StatusCode >= 300 {
		pipe.Close()
		return l.refused(req, resp), nil
	}
	if err != nil {
		pipe.Close()
		return nil, err
	}
	drain(resp)
	if pipe == nil {
		return synthetic(req, http.StatusAccepted, nil, nil), nil
	}
	h := http.Header{"Content-Type": {"text/event-stream"}}
	if m.Method == mcp.MethodInitialize {
		h.Set("Mcp-Session-Id", l.session)
	}
	return synthetic(req, http.StatusOK, h, pipe), nil
}

// refused passes on the endpoint's refusal. A 404 means the server forgot
// the session: the stream is ended, so that a new session is started.
func (l *LegacySSE) refused(req *http.Request, resp *http.Response) *http.Response {
	if resp.StatusCode == http.StatusNotFound {
		drain(resp)
		l.log.Info("the MCP server's message endpoint answered 404; ending the session")
		if l.end() {
			l.lost()
		}
		return synthetic(req, http.StatusNotFound, nil, nil)
	}
	return synthetic(req, resp.StatusCode, resp.Header, resp.Body)
}

func (l *LegacySSE) send(ctx context.Context, to *url.URL, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, to.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.http.Do(req)
	var ue *url.Error
	if errors.As(err, &ue) {
		// The endpoint's query holds the server's session id, which the
		// proxy never logs (sessionHash): keep it out of the error too.
		ue.URL = "the MCP server's message endpoint"
	}
	return resp, err
}

// listen answers the GET with the stream of the messages that belong to
// no request.
func (l *LegacySSE) listen(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return nil, ErrSessionGone
	}
	if l.handed {
		l.listener.end(io.EOF)
		l.listener = newEventPipe(nil)
	}
	l.handed = true
	return synthetic(req, http.StatusOK, http.Header{"Content-Type": {"text/event-stream"}}, l.listener), nil
}

func (l *LegacySSE) forget(k string, p *eventPipe) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending[k] == p {
		delete(l.pending, k)
	}
}

// synthetic is an answer of the transport's own to the Streamable HTTP
// client.
func synthetic(req *http.Request, status int, h http.Header, body io.ReadCloser) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	if body == nil {
		body = http.NoBody
	}
	return &http.Response{Status: strconv.Itoa(status) + " " + http.StatusText(status), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h, Body: body, ContentLength: -1, Request: req}
}
