package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/chain"
)

// hostileServer is an MCP server of the test's own (Streamable HTTP, the
// 2025 era): it wants a token, names the chain's authorization server in
// its protected resource metadata, records every Authorization header it
// gets, and may flood the client with requests on its GET stream.
type hostileServer struct {
	url, prm string
	flood    int // requests to send on the GET stream

	mu      sync.Mutex
	auths   []string
	answers atomic.Int64 // POSTs answering its requests
	calls   atomic.Int64
	flooded atomic.Bool   // the whole flood was written
	start   chan struct{} // closed: the flood begins (nil: at once)
}

func (h *hostileServer) mount(c *chain.Server, mux *http.ServeMux, path string) {
	h.url, h.prm = c.URL+path, c.URL+"/.well-known/oauth-protected-resource"+path
	mux.HandleFunc("/.well-known/oauth-protected-resource"+path, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"resource": h.url, "authorization_servers": []string{c.URL}})
	})
	mux.HandleFunc(path, h.serve)
}

func (h *hostileServer) serve(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	h.mu.Lock()
	h.auths = append(h.auths, auth)
	h.mu.Unlock()
	if auth == "" {
		w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+h.prm+`"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.Method == http.MethodGet {
		h.stream(w)
		return
	}
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	body, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(body, &m)
	switch {
	case m.Method == "": // an answer to one of its requests
		h.answers.Add(1)
		w.WriteHeader(http.StatusAccepted)
		return
	case len(m.ID) == 0: // a notification
		w.WriteHeader(http.StatusAccepted)
		return
	case m.Method == "server/discover":
		http.Error(w, "", http.StatusBadRequest) // a 2025-era server
		return
	}
	result := map[string]any{}
	switch m.Method {
	case "initialize":
		w.Header().Set("Mcp-Session-Id", "s-1")
		result = map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{"tools": map[string]any{}},
			"serverInfo": map[string]any{"name": "hostile", "version": "1"}}
	case "tools/list":
		result = map[string]any{"tools": []any{map[string]any{"name": "who", "inputSchema": map[string]any{"type": "object"}}}}
	case "tools/call":
		h.calls.Add(1)
		result = map[string]any{"content": []any{map[string]any{"type": "text", "text": "it is me"}}}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": result})
}

// stream sends flood elicitation requests, then holds the stream open.
func (h *hostileServer) stream(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	if h.start != nil {
		<-h.start
	}
	for i := range h.flood {
		fmt.Fprintf(w, "data: {\"jsonrpc\":\"2.0\",\"id\":\"e-%d\",\"method\":\"elicitation/create\",\"params\":{\"message\":\"%s\",\"requestedSchema\":{\"type\":\"object\"}}}\n\n", i, strings.Repeat("x", 1024))
	}
	w.(http.Flusher).Flush()
	h.flooded.Store(true)
	time.Sleep(time.Minute) // the relay or the test ends it first
}

func (h *hostileServer) sawAny(secrets []string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.auths {
		for _, s := range secrets {
			if a != "" && strings.Contains(a, s) {
				return a
			}
		}
	}
	return ""
}

// TestP1_TwoServersOneVaultNeverShareTokens: two MCP servers behind one
// authorization server, one vault, one client id. The first signs in; the
// second, whose metadata names the same issuer, must never receive the
// first one's tokens, nor make the relay refresh them: with no resource
// (RELAY_RESOURCE=off), one explicit resource for both, and the default.
func TestP1_TwoServersOneVaultNeverShareTokens(t *testing.T) {
	for name, resource := range map[string]func(c *chain.Server) string{
		"off":                   func(*chain.Server) string { return "off" },
		"one explicit resource": func(c *chain.Server) string { return c.URL + "/shared" },
		"default":               func(*chain.Server) string { return "" },
	} {
		t.Run(name, func(t *testing.T) {
			a, b := &hostileServer{}, &hostileServer{}
			c := chain.Start(t, chain.Options{Resources: []string{"/a/mcp", "/b/mcp", "/shared"},
				Handle: func(c *chain.Server, mux *http.ServeMux) { a.mount(c, mux, "/a/mcp"); b.mount(c, mux, "/b/mcp") }})
			ea := newRelayEnv(t, c).forMCP(a.url)
			if r := resource(c); r != "" {
				ea.Vars["RELAY_RESOURCE"] = r
			}
			ea.Says(t, 0, "login")
			ofA := c.Secrets()
			eb := newRelayEnv(t, c)
			eb.Vars = map[string]string{} // the same vault, key and browser
			for k, v := range ea.Vars {
				eb.Vars[k] = v
			}
			eb.Vars["RELAY_MCP_URL"] = b.url
			p := eb.Start(t, []string{"serve"})
			p.Send(t, fmt.Sprintf(initializeLine, 1))
			p.Send(t, fmt.Sprintf(callLine, 2, "who", `{}`))
			got := p.Responses(t, 90*time.Second, "1", "2")
			testkit.Contains(t, "the call at B", got["2"].Raw, "it is me")
			if leak := b.sawAny(ofA); leak != "" {
				t.Fatalf("server B received server A's token")
			}
			if n := c.Refreshes.Load(); n != 0 {
				t.Fatalf("%d refreshes: B's requests spent A's refresh token", n)
			}
		})
	}
}

// TestP2_ServerRequestFloodStaysBounded: a server floods the client with
// 100,000 elicitation requests on its GET stream. A 2025-era client that
// never answers gets at most 64 of them, the rest are dropped; a
// 2026-07-28 client cannot take them, so each is refused with a POST, at
// most 8 at a time over at most 64 connections. The relay's memory and
// open files stay flat, and calls keep working.
func TestP2_ServerRequestFloodStaysBounded(t *testing.T) {
	for _, era := range []string{"2025", "2026-07-28"} {
		t.Run(era, func(t *testing.T) {
			h := &hostileServer{flood: 100_000, start: make(chan struct{})}
			c := chain.Start(t, chain.Options{Resources: []string{"/h/mcp"},
				Handle: func(c *chain.Server, mux *http.ServeMux) { h.mount(c, mux, "/h/mcp") }})
			e := newRelayEnv(t, c).forMCP(h.url)
			e.Says(t, 0, "login")
			p := e.Start(t, []string{"serve"})
			pid := p.Cmd.Process.Pid
			call := fmt.Sprintf(callLine, 7, "who", `{}`)
			if era == "2025" {
				p.Send(t, fmt.Sprintf(initializeLine, 1))
			} else {
				p.Send(t, `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`)
				call = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"who","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
			}
			p.Responses(t, 30*time.Second, "1")
			p.Send(t, call) // connects: the GET stream opens, and the flood comes
			p.Responses(t, 30*time.Second, "7")
			base, baseFDs := peakRSS(t, pid), openFiles(t, pid)
			asked, maxFDs := 0, baseFDs
			close(h.start)
			answered := int64(-1)
			testkit.Poll(t, 180*time.Second, "the flood to be written and handled", func() bool {
				maxFDs = max(maxFDs, openFiles(t, pid))
				for {
					m, ok := p.Read(t, 300*time.Millisecond)
					if !ok { // quiet for 300 ms: done once all is written and no answer came meanwhile
						n := h.answers.Load()
						done := h.flooded.Load() && n == answered
						answered = n
						return done
					}
					if m.Method == "elicitation/create" {
						asked++ // never answered
					}
				}
			})
			p.Send(t, strings.Replace(call, `"id":7`, `"id":8`, 1))
			if got := p.Responses(t, 60*time.Second, "8"); !strings.Contains(got["8"].Raw, "it is me") {
				t.Fatalf("a call after the flood: %s", got["8"].Raw)
			}
			peak := peakRSS(t, pid)
			t.Logf("%d requests reached the client, %d refused, the rest dropped; peak RSS %d → %d KiB; open files %d, at most %d",
				asked, h.answers.Load(), base>>10, peak>>10, baseFDs, maxFDs)
			if era == "2025" && (asked > 64 || h.answers.Load() != 0) {
				t.Fatalf("%d unanswered requests reached the client (want at most 64), %d answers", asked, h.answers.Load())
			}
			if era != "2025" && asked != 0 {
				t.Fatalf("%d requests reached a 2026-07-28 client", asked)
			}
			if peak-base > 64<<20 { // the flood is 100 MB of requests
				t.Fatalf("peak RSS grew by %d MiB", (peak-base)>>20)
			}
			if maxFDs > baseFDs+70 {
				t.Fatalf("open files went from %d to %d", baseFDs, maxFDs)
			}
		})
	}
}

// openFiles counts pid's open file descriptors.
func openFiles(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	testkit.NoErr(t, err)
	return len(ents)
}
