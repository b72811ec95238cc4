package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/front"
)

// ErrSessionGone is a 404 to a request that carried the session id: the
// server has ended the session, and a new one must be initialized.
var ErrSessionGone = errors.New("mcphttp: the MCP server ended the session (404)")

// errNoStream is a 405 to the GET: the server offers no stream for its own
// messages.
var errNoStream = errors.New("mcphttp: the MCP server offers no event stream (405)")

// StatusError is an HTTP status the transport cannot use. The body is not
// kept: it is the server's, and may echo anything.
type StatusError struct {
	Status int
}

func (e *StatusError) Error() string {
	return "the MCP server answered HTTP " + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status)
}

// Streamable is a client of one session of the Streamable HTTP transport
// (MCP 2025-11-25): each message is a POST, answered with JSON or with an
// event stream on which the server's notifications and requests may come
// before the response; a GET stream carries the server's own messages.
// Streams that end or break are resumed with Last-Event-ID. Its methods are
// safe for concurrent use.
//
// Server requests are answered by ask, bounded only by the session's
// lifetime and the server's notifications/cancelled: a person answering an
// elicitation may take long.
type Streamable struct {
	url  string
	http *http.Client // the guard and the auth layer; bodies are capped (limit.go)
	log  *slog.Logger
	h    Handlers

	ctx    context.Context // the session's lifetime, with the options of the transport's own requests
	cancel context.CancelFunc

	resumeDelay time.Duration // before resuming a POST's stream, when the server set no retry
	listenDelay time.Duration // first wait before reopening the GET stream
	listenMax   time.Duration // longest wait
	wait        func(ctx context.Context, d time.Duration, wake <-chan struct{}) bool

	mu      sync.Mutex
	id      secret.Value // Mcp-Session-Id: whoever has it can act in the session
	version string       // MCP-Protocol-Version, once initialized
	modern  bool         // 2026-07-28: no session, no resumption, standard headers
	gone    bool
	asks    map[string]context.CancelFunc // server requests being answered, by id
	flooded bool                          // a server request was dropped (logged once)
	posting chan struct{}                 // answers being POSTed (maxAnswerPOSTs)
	wake    chan struct{}                 // a POST went through: retry the GET stream now
}

// maxResumes bounds attempts in a row to resume a POST's stream that
// deliver nothing.
const maxResumes = 5

// Handlers are what a Streamable does with the server's own messages and
// the 2026-07-28 era's headers. Nil ones do nothing.
type Handlers struct {
	// Note gets a server notification.
	Note func(*front.Message)
	// Ask answers a server request; it may take as long as the session.
	Ask func(context.Context, *front.Message) (*front.Message, error)
	// Headers adds a 2026-07-28 message's own headers (Mcp-Method,
	// Mcp-Name, Mcp-Param-*) to its POST.
	Headers func(http.Header, *front.Message)
}

// NewStreamable makes the client of one session at url over hc. Its
// streams and answers live as long as ctx (with ctx's values: the mode of
// the auth layer for the transport's own requests).
func NewStreamable(ctx context.Context, url string, hc *http.Client, log *slog.Logger, h Handlers) *Streamable {
	ctx, cancel := context.WithCancel(ctx)
	if h.Note == nil {
		h.Note = func(*front.Message) {}
	}
	if h.Ask == nil {
		h.Ask = func(context.Context, *front.Message) (*front.Message, error) { return nil, errors.New("no handler") }
	}
	if h.Headers == nil {
		h.Headers = func(http.Header, *front.Message) {}
	}
	return &Streamable{url: url, http: hc, log: log, h: h, ctx: ctx, cancel: cancel,
		resumeDelay: 500 * time.Millisecond, listenDelay: time.Second, listenMax: 30 * time.Second, wait: Sleep,
		asks: map[string]context.CancelFunc{}, wake: make(chan struct{}, 1), posting: make(chan struct{}, maxAnswerPOSTs)}
}

// Context ends when the session is closed; it carries the values the
// Streamable was made with.
func (s *Streamable) Context() context.Context { return s.ctx }

// Woken fires when a POST went through: a stream refused for an expired
// token may try again now (only a POST refreshes the token).
func (s *Streamable) Woken() <-chan struct{} { return s.wake }

// Wait waits d, less if wake fires; false if ctx ended.
func (s *Streamable) Wait(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	return s.wait(ctx, d, wake)
}

// RetryDelay is the wait before the attempt-th try to reopen a stream:
// from 1 s, doubling, up to 30 s.
func (s *Streamable) RetryDelay(attempt int) time.Duration {
	return Backoff(s.listenDelay, attempt, s.listenMax)
}

// SessionID returns the Mcp-Session-Id, zero before initialize.
func (s *Streamable) SessionID() secret.Value {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// SetVersion sets MCP-Protocol-Version for every later request.
func (s *Streamable) SetVersion(v string) {
	s.mu.Lock()
	s.version = v
	s.mu.Unlock()
}

// modernKey marks a context whose POST is a 2026-07-28 message on a
// transport not yet switched (the server/discover probe).
type modernKey struct{}

// WithModern marks ctx's POSTs as 2026-07-28 messages on a Streamable not
// yet switched (SetModern): the server/discover probe.
func WithModern(ctx context.Context) context.Context {
	return context.WithValue(ctx, modernKey{}, true)
}

// SetModern switches to the 2026-07-28 era: every POST carries the
// era's headers (Handlers.Headers), streams are not resumed.
func (s *Streamable) SetModern() {
	s.mu.Lock()
	s.modern, s.version = true, mcp.ProtocolVersion20260728
	s.mu.Unlock()
}

func (s *Streamable) IsModern() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.modern
}

// Call sends a request and returns the server's response: a JSON-RPC
// result or error.
func (s *Streamable) Call(ctx context.Context, m *front.Message) (*front.Message, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	resp, err := s.post(ctx, m)
	if err != nil {
		return nil, err
	}
	if m.Method == mcp.MethodInitialize && resp.StatusCode == http.StatusOK {
		s.mu.Lock()
		s.id = secret.New(resp.Header.Get("Mcp-Session-Id"))
		s.mu.Unlock()
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return s.response(ctx, resp)
	case resp.StatusCode == http.StatusNotFound && m.Method == mcp.MethodInitialize:
		resp.Body.Close()
		return nil, errors.New("the MCP server answered 404 to initialize: check the URL, or set RELAY_MCP_TRANSPORT=sse if it speaks only the legacy HTTP+SSE transport")
	}
	return errorResponse(resp)
}

// Send sends a notification, or a response to a server request.
func (s *Streamable) Send(ctx context.Context, m *front.Message) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	resp, err := s.post(ctx, m)
	if err != nil {
		return err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusAccepted, http.StatusOK, http.StatusNoContent:
		return nil
	}
	return &StatusError{Status: resp.StatusCode}
}

// bound ends ctx when the session is closed, too.
func (s *Streamable) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

func (s *Streamable) post(ctx context.Context, m *front.Message) (*http.Response, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	req, err := s.request(ctx, http.MethodPost, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if s.IsModern() || ctx.Value(modernKey{}) != nil {
		req.Header.Set("MCP-Protocol-Version", mcp.ProtocolVersion20260728)
		s.h.Headers(req.Header, m)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotFound && req.Header.Get("Mcp-Session-Id") != "" {
		drain(resp)
		s.mu.Lock()
		s.gone = true
		s.mu.Unlock()
		return nil, ErrSessionGone
	}
	if resp.StatusCode < 300 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return resp, nil
}

// request builds a request to the MCP URL with the session's headers.
func (s *Streamable) request(ctx context.Context, method string, body []byte) (*http.Request, error) {
	s.mu.Lock()
	id, version, gone := s.id, s.version, s.gone
	s.mu.Unlock()
	if gone {
		return nil, ErrSessionGone
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.url, r)
	if err != nil {
		return nil, err
	}
	if !id.IsZero() {
		req.Header.Set("Mcp-Session-Id", id.Reveal())
	}
	if version != "" {
		req.Header.Set("MCP-Protocol-Version", version)
	}
	return req, nil
}

// response reads a 200 answer to a request: one JSON message, or an event
// stream that ends with it.
func (s *Streamable) response(ctx context.Context, resp *http.Response) (*front.Message, error) {
	switch mediaType(resp) {
	case "application/json":
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, front.MaxMessage+1))
		if err != nil {
			return nil, err
		}
		if len(b) > front.MaxMessage {
			return nil, front.ErrMessageTooLarge
		}
		var m front.Message
		if json.Unmarshal(b, &m) != nil || !m.IsResponse() {
			return nil, errors.New("the MCP server's answer is not a JSON-RPC response")
		}
		return &m, nil
	case "text/event-stream":
		return s.await(ctx, resp.Body)
	}
	resp.Body.Close()
	return nil, fmt.Errorf("the MCP server answered with content type %q", front.Scrub(resp.Header.Get("Content-Type")))
}

// errorResponse reads a status other than 200 to a request: the JSON-RPC
// error it carries, if any, else a *StatusError.
func errorResponse(resp *http.Response) (*front.Message, error) {
	defer resp.Body.Close()
	if mediaType(resp) == "application/json" {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var m front.Message
		if json.Unmarshal(b, &m) == nil && m.Error != nil && m.Method == "" {
			return &m, nil
		}
	}
	return nil, &StatusError{Status: resp.StatusCode}
}

func mediaType(resp *http.Response) string {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return mt
}

// Close ends the session: the streams, the requests being answered, and
// the session at the server (DELETE, with the cached token only).
func (s *Streamable) Close() {
	req, err := s.request(context.Background(), http.MethodDelete, nil)
	s.cancel()
	s.mu.Lock()
	s.gone = true
	s.mu.Unlock()
	if err != nil || req.Header.Get("Mcp-Session-Id") == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := s.http.Do(req.WithContext(ctx))
	if err != nil {
		s.log.Debug("could not end the session at the MCP server", "err", err)
		return
	}
	resp.Body.Close()
}

// Sleep waits d, or less if wake fires; false if ctx ended.
func Sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-wake:
	case <-ctx.Done():
		return false
	}
	return true
}
