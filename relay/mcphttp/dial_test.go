package mcphttp

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/front"
)

// noTokens is an auth layer for a server that needs none.
type noTokens struct{}

func (noTokens) Token(context.Context, broker.UI) (secret.Value, error) { return secret.Value{}, nil }
func (noTokens) Unauthorized(context.Context, secret.Value, broker.UI) (secret.Value, error) {
	return secret.Value{}, nil
}
func (noTokens) StepUp(context.Context, secret.Value, []string, broker.UI) (secret.Value, error) {
	return secret.Value{}, nil
}
func (noTokens) NotGranted([]string)                               {}
func (noTokens) CachedToken(context.Context) (secret.Value, error) { return secret.Value{}, nil }

// quietClient is a 2025-era client that has initialized.
type quietClient struct{}

func (quietClient) Send(*front.Message)                            {}
func (quietClient) Notify(context.Context, string, map[string]any) {}
func (quietClient) Ask(context.Context, string, json.RawMessage) (*front.Message, error) {
	return nil, io.EOF
}
func (quietClient) State() front.ClientState {
	return front.ClientState{Version: "2025-06-18", Info: json.RawMessage(`{"name":"t","version":"1"}`), Caps: json.RawMessage(`{}`)}
}

// heldGET is a 2025-era MCP server that holds the answer to its GET
// stream until release is closed.
type heldGET struct {
	srv     *httptest.Server
	release chan struct{}
	mu      sync.Mutex
	got     []string // "GET", or the POSTs' methods, in order
}

func newHeldGET(t *testing.T) *heldGET {
	h := &heldGET{release: make(chan struct{})}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			h.record("GET")
			select {
			case <-h.release:
			case <-r.Context().Done():
				return
			}
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		var m front.Message
		_ = json.NewDecoder(r.Body).Decode(&m)
		h.record(m.Method)
		switch m.Method {
		case "server/discover":
			http.Error(w, "", http.StatusBadRequest)
		case "initialize":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Mcp-Session-Id", "s-1")
			_ = json.NewEncoder(w).Encode(front.Result(m.ID, json.RawMessage(`{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"s","version":"1"}}`)))
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *heldGET) record(s string) {
	h.mu.Lock()
	h.got = append(h.got, s)
	h.mu.Unlock()
}

func (h *heldGET) sawGET() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, g := range h.got {
		if g == "GET" {
			return true
		}
	}
	return false
}

func (h *heldGET) dial(t *testing.T) <-chan error {
	t.Helper()
	u, err := New(context.Background(), Config{URL: h.srv.URL, Tokens: noTokens{}, Resolved: func() bool { return false }}, quietClient{})
	testkit.NoErr(t, err)
	t.Cleanup(u.Close)
	done := make(chan error, 1)
	go func() {
		_, err := u.dial(context.Background())
		done <- err
	}()
	return done
}

// elicitation-sep1034-client-defaults of the MCP conformance suite: its
// server sends an elicitation on the GET stream as soon as the tool is
// called, and drops it when no stream is open. A new 2025-era session is
// not handed to the client (which calls the tool at once) before the
// server has answered the stream's GET.
func TestDialWaitsForTheGETStream(t *testing.T) {
	defer func(d time.Duration) { listenWait = d }(listenWait)
	listenWait = time.Minute
	h := newHeldGET(t)
	done := h.dial(t)
	testkit.Poll(t, 10*time.Second, "the GET stream", h.sawGET)
	if testkit.Eventually(500*time.Millisecond, func() bool { return len(done) > 0 }) {
		t.Fatalf("the session was ready before the server answered its GET stream: %v", <-done)
	}
	close(h.release)
	testkit.Poll(t, 10*time.Second, "the session, once the GET is answered", func() bool { return len(done) > 0 })
	testkit.NoErr(t, <-done)
}

// A server that never answers the GET costs listenWait, once.
func TestDialGETWaitIsBounded(t *testing.T) {
	defer func(d time.Duration) { listenWait = d }(listenWait)
	listenWait = 50 * time.Millisecond
	h := newHeldGET(t)
	defer close(h.release)
	done := h.dial(t)
	testkit.Poll(t, 10*time.Second, "the session, past the GET's wait", func() bool { return len(done) > 0 })
	testkit.NoErr(t, <-done)
}
