package mcphttp

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
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

func TestToolFilterHides(t *testing.T) {
	f := newToolFilter([]string{"delete*", "*Account", "exactTool", " ", "a*b*c"})
	cases := map[string]bool{
		"delete": true, "deleteTask": true, "DELETE_user": true, "undelete": false,
		"getAccount": true, "account": true, "accounts": false,
		"exacttool": true, "exactTool2": false,
		"abc": true, "aXbYc": true, "a*b*c": true, "acb": false, "abcX": false,
		"": false, "echo": false,
	}
	for name, want := range cases {
		if got := f.hides(name); got != want {
			t.Errorf("hides(%q) = %v, want %v", name, got, want)
		}
	}
	if newToolFilter(nil).hides("anything") || newToolFilter([]string{""}).hides("") {
		t.Error("an empty filter hides a tool")
	}
}

func TestToolFilterList(t *testing.T) {
	f := newToolFilter([]string{"delete*"})
	in := `{"tools":[{"name":"echo"},{"name":"deleteAll"},{"name":"x","NAME":"deleteAll"},{"name":"deleteMe","name":"safe"},{"title":"no name"},{"name":7}],"nextCursor":"c2"}`
	var got struct {
		Tools      []map[string]any `json:"tools"`
		NextCursor string           `json:"nextCursor"`
	}
	testkit.NoErr(t, json.Unmarshal(f.filterTools(json.RawMessage(in)), &got))
	var names []string
	for _, tool := range got.Tools {
		names = append(names, tool["name"].(string))
	}
	// "x" stays (its exact name is x; NAME is another member, as a
	// JavaScript client reads it); the duplicate-name tool reads as "safe",
	// its last name, as JSON.parse does; tools without a string name go.
	if strings.Join(names, ",") != "echo,x,safe" || got.NextCursor != "c2" {
		t.Fatalf("filtered to %v, cursor %q", names, got.NextCursor)
	}
	all := `{"tools":[{"name":"deleteA"}]}`
	if out := string(f.filterTools(json.RawMessage(all))); out != `{"tools":[]}` {
		t.Fatalf("all filtered: %s", out)
	}
	if out := string(newToolFilter(nil).filterTools(json.RawMessage(in))); out != in {
		t.Fatal("no filter changed the result")
	}
}

// FuzzGlobMatch checks globMatch against a regular expression built the
// way mcp-remote builds its own (each * becomes .*, the rest literal).
func FuzzGlobMatch(f *testing.F) {
	f.Add("delete*", "deleteTask")
	f.Add("*a*b*", "xxaxxbxx")
	f.Add("a**b", "ab")
	f.Add("*", "")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		parts := strings.Split(pattern, "*")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		re, err := regexp.Compile("(?s)^" + strings.Join(parts, ".*") + "$")
		if err != nil {
			t.Skip()
		}
		if got, want := globMatch(pattern, s), re.MatchString(s); got != want {
			t.Fatalf("globMatch(%q, %q) = %v, regexp says %v", pattern, s, got, want)
		}
	})
}
