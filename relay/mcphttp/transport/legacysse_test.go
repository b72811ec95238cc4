package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/front"
)

func TestMessageEndpoint(t *testing.T) {
	target, _ := url.Parse("http://127.0.0.1:8080/v1/sse")
	ok := []struct{ raw, want string }{
		{"/message?sessionId=abc", "http://127.0.0.1:8080/message?sessionId=abc"},
		{"message?sessionId=abc", "http://127.0.0.1:8080/v1/message?sessionId=abc"},
		{"http://127.0.0.1:8080/v1/messages/?s=1", "http://127.0.0.1:8080/v1/messages/?s=1"},
		{"HTTP://127.0.0.1:8080/m", "http://127.0.0.1:8080/m"},
		{" /m \r\n", "http://127.0.0.1:8080/m"},
	}
	for _, c := range ok {
		u, err := messageEndpoint(target, c.raw)
		if err != nil || u.String() != c.want {
			t.Errorf("%q: %v %v, want %s", c.raw, u, err, c.want)
		}
	}
	refused := []struct{ name, raw string }{
		{"other host", "http://evil.example:8080/message"},
		{"other host, same IP spelled otherwise", "http://localhost:8080/message"},
		{"other port", "http://127.0.0.1:8081/message"},
		{"default port", "http://127.0.0.1/message"},
		{"other scheme", "https://127.0.0.1:8080/message"},
		{"scheme-relative", "//evil.example/x"},
		{"scheme-relative, same port", "//evil.example:8080/x"},
		{"userinfo", "http://user@127.0.0.1:8080/message"},
		{"userinfo with password", "http://user:pw@127.0.0.1:8080/message"},
		{"scheme-relative userinfo", "//user@127.0.0.1:8080/message"},
		{"userinfo hiding a host", "http://127.0.0.1:8080@evil.example/message"},
		{"not http", "javascript:alert(1)"},
		{"ftp", "ftp://127.0.0.1:8080/message"},
		{"opaque", "http:message"},
		{"fragment", "/message#x"},
		{"empty fragment", "/message#"},
		{"backslash", `\\evil.example\x`},
		{"empty", ""},
		{"too long", "/" + strings.Repeat("a", maxEndpoint)},
	}
	for _, c := range refused {
		if u, err := messageEndpoint(target, c.raw); !errors.Is(err, ErrBadEndpoint) {
			t.Errorf("%s (%q): %v %v, want ErrBadEndpoint", c.name, c.raw, u, err)
		}
	}
	// The default port of the scheme is the same port.
	t443, _ := url.Parse("https://mcp.example/sse")
	if u, err := messageEndpoint(t443, "https://MCP.example:443/m"); err != nil || u.String() != "https://mcp.example/m" {
		t.Errorf("explicit default port: %v %v", u, err)
	}
}

// fakeSSE is a legacy HTTP+SSE server: GET /mcp is the stream, whose
// first event names endpoint; POSTs there are answered 202, and answer
// turns each into the events to send.
type fakeSSE struct {
	endpoint string
	events   chan string
	drop     chan struct{}
	answer   func(m *front.Message) []string
	mu       sync.Mutex
	posts    []*front.Message
	gets     int
}

func newFakeSSE(endpoint string) *fakeSSE {
	return &fakeSSE{endpoint: endpoint, events: make(chan string, 16), drop: make(chan struct{}, 1),
		answer: func(m *front.Message) []string {
			if m.IsRequest() {
				return []string{`{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":{"echo":"` + m.Method + `"}}`}
			}
			return nil
		}}
}

func (f *fakeSSE) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/mcp":
		f.mu.Lock()
		f.gets++
		f.mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		_, port, _ := net.SplitHostPort(r.Host)
		_, _ = io.WriteString(w, "event: endpoint\r\ndata: "+strings.ReplaceAll(f.endpoint, "{port}", port)+"\r\n\r\n")
		w.(http.Flusher).Flush()
		for {
			select {
			case ev := <-f.events:
				_, _ = io.WriteString(w, "event: message\ndata: "+ev+"\n\n")
				w.(http.Flusher).Flush()
			case <-f.drop:
				return
			case <-r.Context().Done():
				return
			}
		}
	case r.Method == http.MethodPost && r.URL.Path == "/message":
		var m front.Message
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &m)
		f.mu.Lock()
		f.posts = append(f.posts, &m)
		answer := f.answer
		f.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		for _, ev := range answer(&m) {
			f.events <- ev
		}
	default:
		http.Error(w, "no", http.StatusMethodNotAllowed)
	}
}

// callKey marks the context of a call, to see which stream a server
// request came on.
type callKey struct{}

func (f *fakeSSE) setAnswer(a func(*front.Message) []string) {
	f.mu.Lock()
	f.answer = a
	f.mu.Unlock()
}

// newTestLegacy connects a legacy transport to h, with a Streamable HTTP
// client over it.
func newTestLegacy(t *testing.T, h http.Handler) (*LegacySSE, *Streamable, error) {
	g, u := newGuard(t, h.ServeHTTP)
	lt := NewLegacySSE(t.Context(), g.Target, &http.Client{Transport: g, CheckRedirect: noRedirect}, discard(), g.AllowEndpoint, nil)
	lt.wait = 2 * time.Second
	t.Cleanup(lt.Close)
	err := lt.Connect(t.Context())
	s := NewStreamable(t.Context(), u, &http.Client{Transport: lt}, discard(), Handlers{})
	t.Cleanup(s.cancel)
	return lt, s, err
}

// A session over the legacy transport: the response comes on the stream,
// matched by id; a server request during the one call in flight comes on
// that call's stream, notifications outside any call on the GET's; a
// drop fails the call in flight with ErrStreamDropped and ends the
// session (404, so the proxy starts a new one).
func TestLegacySSESession(t *testing.T) {
	f := newFakeSSE("/message?sessionId=s1")
	lt, s, err := newTestLegacy(t, f)
	testkit.NoErr(t, err)
	lost := make(chan struct{}, 1)
	lt.lost = func() { lost <- struct{}{} }
	var mu sync.Mutex
	var notes, asks []string
	s.h.Note = func(m *front.Message) { mu.Lock(); notes = append(notes, m.Method); mu.Unlock() }
	s.h.Ask = func(ctx context.Context, m *front.Message) (*front.Message, error) {
		mu.Lock()
		asks = append(asks, m.Method+" during "+fmt.Sprint(ctx.Value(callKey{})))
		mu.Unlock()
		return front.Result(m.ID, json.RawMessage(`{"model":"m"}`)), nil
	}
	resp, err := s.Call(t.Context(), rpc(`"init"`, "initialize"))
	if err != nil || string(resp.Result) != `{"echo":"initialize"}` || s.SessionID().Reveal() == "" {
		t.Fatalf("initialize: %+v %v, session %q", resp, err, s.SessionID().Reveal())
	}
	// A sampling request and a progress notification before the result.
	f.setAnswer(func(m *front.Message) []string {
		if m.Method != "tools/call" {
			return nil
		}
		return []string{`{"jsonrpc":"2.0","id":"srv-1","method":"sampling/createMessage","params":{}}`,
			`{"jsonrpc":"2.0","method":"notifications/progress","params":{}}`,
			`{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":{"done":true}}`}
	})
	if resp, err := s.Call(context.WithValue(t.Context(), callKey{}, "call 7"), rpc(`7`, "tools/call")); err != nil || string(resp.Result) != `{"done":true}` {
		t.Fatalf("tools/call: %+v %v", resp, err)
	}
	s.Listen()
	f.events <- `{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`
	testkit.Poll(t, 10*time.Second, "the session's messages", func() bool {
		mu.Lock()
		defer mu.Unlock()
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(notes) == 2 && len(asks) == 1 && len(f.posts) == 3 // initialize, tools/call, the sampling result
	})
	if notes[0] != "notifications/progress" || notes[1] != "notifications/tools/list_changed" || asks[0] != "sampling/createMessage during call 7" ||
		string(f.posts[2].ID) != `"srv-1"` || f.posts[2].Result == nil {
		t.Fatalf("notes %q, asks %q, posts %+v", notes, asks, f.posts)
	}
	// The stream drops while a call waits for its response.
	f.setAnswer(func(*front.Message) []string { return nil })
	done := make(chan error, 1)
	go func() { _, err := s.Call(t.Context(), rpc(`8`, "tools/call")); done <- err }()
	testkit.Poll(t, 10*time.Second, "four posts", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.posts) == 4 })
	f.drop <- struct{}{}
	select {
	case err := <-done:
		if !errors.Is(err, ErrStreamDropped) {
			t.Fatalf("the call in flight: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call in flight did not fail after the drop")
	}
	<-lost
	if _, err := s.Call(t.Context(), rpc(`9`, "tools/list")); !errors.Is(err, ErrSessionGone) {
		t.Fatalf("a call after the drop: %v", err)
	}
}

// A malicious endpoint event is refused and never followed: the other
// origin gets no request, with or without credentials.
func TestLegacySSERefusesEndpoint(t *testing.T) {
	var hits int
	var mu sync.Mutex
	evil := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { mu.Lock(); hits++; mu.Unlock() }))
	defer evil.Close()
	eu, _ := url.Parse(evil.URL)
	for _, c := range []struct{ name, endpoint string }{
		{"other host", "http://localhost:{port}/message"},
		{"other host, the evil one", "http://localhost:" + eu.Port() + "/message"},
		{"other port", evil.URL + "/message"},
		{"other scheme", "https://127.0.0.1:{port}/message"},
		{"scheme-relative", "//evil.example/x"},
		{"scheme-relative, same port", "//localhost:{port}/x"},
		{"userinfo", "http://user:pw@127.0.0.1:{port}/message"},
		{"fragment", "/message#x"},
		{"not http", "javascript:alert(1)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeSSE(c.endpoint)
			_, _, err := newTestLegacy(t, f)
			if !errors.Is(err, ErrBadEndpoint) {
				t.Fatalf("connect: %v, want ErrBadEndpoint", err)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 0 {
		t.Fatalf("the other origin got %d requests", hits)
	}
}

// A stream that does not start with an endpoint event, or that answers
// the GET with an error, is not a legacy SSE server.
func TestLegacySSENotSSE(t *testing.T) {
	cases := []struct {
		name string
		h    http.HandlerFunc
		want string
	}{
		{"405", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", http.StatusMethodNotAllowed) }, "405"},
		{"json", func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("Content-Type", "application/json") }, "content type"},
		{"message first", func(w http.ResponseWriter, _ *http.Request) { sse(w, `data: {"jsonrpc":"2.0","method":"x"}`) }, "endpoint event"},
		{"ends", func(w http.ResponseWriter, _ *http.Request) { sse(w) }, "before naming"},
		{"too large", func(w http.ResponseWriter, _ *http.Request) {
			sse(w, "event: endpoint\ndata: /"+strings.Repeat("a", front.MaxMessage+1))
		}, "message endpoint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := newTestLegacy(t, c.h); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("connect: %v, want %q", err, c.want)
			}
		})
	}
}

// The message endpoint's query holds the server's session id: a failed
// POST's error (which the proxy logs) must not carry it.
func TestLegacySSESendErrorHidesEndpoint(t *testing.T) {
	l := &LegacySSE{http: &http.Client{}}
	to, _ := url.Parse("http://127.0.0.1:1/messages?sessionId=session-id-0123456789")
	_, err := l.send(context.Background(), to, []byte(`{}`))
	if err == nil || strings.Contains(err.Error(), "session-id-0123456789") || strings.Contains(err.Error(), "/messages") {
		t.Fatalf("error: %v", err)
	}
}
