package proxy

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
)

// ErrSessionGone is a 404 to a request that carried the session id: the
// server has ended the session, and a new one must be initialized.
var ErrSessionGone = errors.New("proxy: the MCP server ended the session (404)")

// errNoStream is a 405 to the GET: the server offers no stream for its own
// messages.
var errNoStream = errors.New("proxy: the MCP server offers no event stream (405)")

// StatusError is an HTTP status the transport cannot use. The body is not
// kept: it is the server's, and may echo anything.
type StatusError struct {
	Status int
}

func (e *StatusError) Error() string {
	return "the MCP server answered HTTP " + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status)
}

// streamable is a client of one session of the Streamable HTTP transport
// (MCP 2025-11-25): each message is a POST, answered with JSON or with an
// event stream on which the server's notifications and requests may come
// before the response; a GET stream carries the server's own messages.
// Streams that end or break are resumed with Last-Event-ID. Its methods are
// safe for concurrent use.
//
// Server requests are answered by ask, bounded only by the session's
// lifetime and the server's notifications/cancelled: a person answering an
// elicitation may take long.
type streamable struct {
	url  string
	http *http.Client // the auth layer; it caps bodies (limit.go)
	log  *slog.Logger
	note func(*message)                                    // a server notification
	ask  func(context.Context, *message) (*message, error) // a server request; returns the response

	ctx    context.Context // the session's lifetime, with the options of the transport's own requests
	cancel context.CancelFunc

	resumeDelay time.Duration // before resuming a POST's stream, when the server set no retry
	listenDelay time.Duration // first wait before reopening the GET stream
	listenMax   time.Duration // longest wait
	wait        func(ctx context.Context, d time.Duration, wake <-chan struct{}) bool

	mu      sync.Mutex
	id      string // Mcp-Session-Id
	version string // MCP-Protocol-Version, once initialized
	modern  bool   // 2026-07-28: no session, no resumption, standard headers
	params  *paramHeaders
	gone    bool
	asks    map[string]context.CancelFunc // server requests being answered, by id
	wake    chan struct{}                 // a POST went through: retry the GET stream now
}

// maxResumes bounds attempts in a row to resume a POST's stream that
// deliver nothing.
const maxResumes = 5

func newStreamable(ctx context.Context, url string, hc *http.Client, log *slog.Logger) *streamable {
	ctx, cancel := context.WithCancel(ctx)
	return &streamable{url: url, http: hc, log: log, ctx: ctx, cancel: cancel,
		note: func(*message) {}, ask: func(context.Context, *message) (*message, error) { return nil, errors.New("no handler") },
		resumeDelay: 500 * time.Millisecond, listenDelay: time.Second, listenMax: 30 * time.Second, wait: sleep,
		asks: map[string]context.CancelFunc{}, wake: make(chan struct{}, 1)}
}

// sessionID returns the Mcp-Session-Id, "" before initialize.
func (s *streamable) sessionID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// setVersion sets MCP-Protocol-Version for every later request.
func (s *streamable) setVersion(v string) {
	s.mu.Lock()
	s.version = v
	s.mu.Unlock()
}

// modernKey marks a context whose POST is a 2026-07-28 message on a
// transport not yet switched (the server/discover probe).
type modernKey struct{}

// setModern switches to the 2026-07-28 era: every POST carries the
// standard headers (headers.go), streams are not resumed.
func (s *streamable) setModern(ph *paramHeaders) {
	s.mu.Lock()
	s.modern, s.version, s.params = true, versionModern, ph
	s.mu.Unlock()
}

func (s *streamable) isModern() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.modern
}

// call sends a request and returns the server's response: a JSON-RPC
// result or error.
func (s *streamable) call(ctx context.Context, m *message) (*message, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	resp, err := s.post(ctx, m)
	if err != nil {
		return nil, err
	}
	if m.Method == "initialize" && resp.StatusCode == http.StatusOK {
		s.mu.Lock()
		s.id = resp.Header.Get("Mcp-Session-Id")
		s.mu.Unlock()
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return s.response(ctx, resp)
	case resp.StatusCode == http.StatusNotFound && m.Method == "initialize":
		resp.Body.Close()
		return nil, errors.New("the MCP server answered 404 to initialize: check the URL, or set RELAY_MCP_TRANSPORT=sse if it speaks only the legacy HTTP+SSE transport")
	}
	return errorResponse(resp)
}

// send sends a notification, or a response to a server request.
func (s *streamable) send(ctx context.Context, m *message) error {
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
func (s *streamable) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

func (s *streamable) post(ctx context.Context, m *message) (*http.Response, error) {
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
	s.mu.Lock()
	modern, ph := s.modern, s.params
	s.mu.Unlock()
	if modern || ctx.Value(modernKey{}) != nil {
		req.Header.Set("MCP-Protocol-Version", versionModern)
		standardHeaders(req.Header, m)
		if ph != nil {
			ph.set(req.Header, m)
		}
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
func (s *streamable) request(ctx context.Context, method string, body []byte) (*http.Request, error) {
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
	if id != "" {
		req.Header.Set("Mcp-Session-Id", id)
	}
	if version != "" {
		req.Header.Set("MCP-Protocol-Version", version)
	}
	return req, nil
}

// response reads a 200 answer to a request: one JSON message, or an event
// stream that ends with it.
func (s *streamable) response(ctx context.Context, resp *http.Response) (*message, error) {
	switch mediaType(resp) {
	case "application/json":
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, MaxMessage+1))
		if err != nil {
			return nil, err
		}
		if len(b) > MaxMessage {
			return nil, ErrMessageTooLarge
		}
		var m message
		if json.Unmarshal(b, &m) != nil || !isReply(&m) {
			return nil, errors.New("the MCP server's answer is not a JSON-RPC response")
		}
		return &m, nil
	case "text/event-stream":
		return s.await(ctx, resp.Body)
	}
	resp.Body.Close()
	return nil, fmt.Errorf("the MCP server answered with content type %q", sanitize(resp.Header.Get("Content-Type")))
}

// errorResponse reads a status other than 200 to a request: the JSON-RPC
// error it carries, if any, else a *StatusError.
func errorResponse(resp *http.Response) (*message, error) {
	defer resp.Body.Close()
	if mediaType(resp) == "application/json" {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var m message
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

// isReply reports whether m is a response (an error may have a null id).
func isReply(m *message) bool {
	return m.Method == "" && (m.Result != nil || m.Error != nil)
}

// close ends the session: the streams, the requests being answered, and
// the session at the server (DELETE, with the cached token only).
func (s *streamable) close() {
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

// sleep waits d, or less if wake fires; false if ctx ended.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
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
