package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/chain"
)

// checkSession runs, on a relay that has not signed in yet, what every
// session with the test server carries: tools/list signs in once and lists
// tools tools; whoami; resources, prompts and completion; the tool ask,
// which needs the client to sample during the call; progress and log
// notifications; list_changed; and a 401 mid-session, refreshed once
// without a browser. Every token the server saw is for its URL.
func checkSession(t *testing.T, mc *mcpChain, ep *endpoint, e *relayEnv, s *session, ask string, tools int, modern bool) {
	t.Helper()
	list, err := s.Client.ListTools(ctx30(t), mcp.ListToolsRequest{})
	if err != nil || len(list.Tools) != tools {
		t.Fatalf("tools/list: %v %v\n%s", err, list, s.Stderr.String())
	}
	if e.opens() != 1 || mc.Codes.Load() != 1 {
		t.Fatalf("first request: %d opens, %d code exchanges; want 1", e.opens(), mc.Codes.Load())
	}
	testkit.Contains(t, "whoami", s.whoami(t), "subject=alice")
	checkResourcesPrompts(t, s)
	if out := s.MustCall(t, ask, nil); out != "the client said four" || s.timesAsked() != 1 {
		t.Fatalf("sampling during a call: %q, asked %d\n%s", out, s.timesAsked(), s.Stderr.String())
	}
	checkNotifications(t, s)
	checkListChanged(t, s, modern)
	mc.RevokeSeen()
	if out := s.whoami(t); !strings.Contains(out, "alice") || mc.Refreshes.Load() != 1 || e.opens() != 1 {
		t.Fatalf("after a 401: %s, %d refreshes, %d opens\n%s", out, mc.Refreshes.Load(), e.opens(), s.Stderr.String())
	}
	checkAudience(t, ep)
}

// checkAudience fails unless the server saw tokens, each for its URL only.
func checkAudience(t *testing.T, ep *endpoint) {
	t.Helper()
	if len(ep.seenTokens()) == 0 {
		t.Fatalf("%s saw no token", ep.url)
	}
	for _, tok := range ep.seenTokens() {
		if len(tok.Audience) != 1 || tok.Audience[0] != ep.url {
			t.Fatalf("%s got a token for %v", ep.url, tok.Audience)
		}
	}
}

func checkResourcesPrompts(t *testing.T, s *session) {
	t.Helper()
	ctx := ctx30(t)
	rl, err := s.Client.ListResources(ctx, mcp.ListResourcesRequest{})
	if err != nil || len(rl.Resources) != 1 {
		t.Fatalf("resources/list: %v %v", err, rl)
	}
	rr := mcp.ReadResourceRequest{}
	rr.Params.URI = "test://notes"
	rd, err := s.Client.ReadResource(ctx, rr)
	if err != nil || rd.Contents[0].(mcp.TextResourceContents).Text != "the notes" {
		t.Fatalf("resources/read: %v %v", err, rd)
	}
	pl, err := s.Client.ListPrompts(ctx, mcp.ListPromptsRequest{})
	if err != nil || len(pl.Prompts) != 1 {
		t.Fatalf("prompts/list: %v %v", err, pl)
	}
	gp := mcp.GetPromptRequest{}
	gp.Params.Name, gp.Params.Arguments = "greet", map[string]string{"name": "bob"}
	pr, err := s.Client.GetPrompt(ctx, gp)
	if err != nil || pr.Messages[0].Content.(mcp.TextContent).Text != "hello bob" {
		t.Fatalf("prompts/get: %v %v", err, pr)
	}
	cr := mcp.CompleteRequest{}
	cr.Params.Ref = mcp.PromptReference{Type: "ref/prompt", Name: "greet"}
	cr.Params.Argument = mcp.CompleteArgument{Name: "name", Value: "a"}
	comp, err := s.Client.Complete(ctx, cr)
	if err != nil || len(comp.Completion.Values) != 2 {
		t.Fatalf("completion/complete: %v %v", err, comp)
	}
}

func checkNotifications(t *testing.T, s *session) {
	t.Helper()
	ctx := ctx30(t)
	//lint:ignore SA1019 2025-era clients still set the level; the proxy maps it
	testkit.NoErr(t, s.Client.SetLevel(ctx, mcp.SetLevelRequest{Params: mcp.SetLevelParams{Level: mcp.LoggingLevelDebug}}), "logging/setLevel")
	req := mcp.CallToolRequest{}
	req.Params.Name = "progress"
	req.Params.Meta = &mcp.Meta{ProgressToken: "p-1"}
	if _, err := s.Client.CallTool(ctx, req); err != nil {
		t.Fatal(err)
	}
	s.waitNote(t, "notifications/progress", `"p-1"`)
	s.waitNote(t, "notifications/message", "log from the server")
}

// checkCancel cancels a slow call: a 2025-era server gets
// notifications/cancelled for the client's own request id; a 2026-07-28
// server sees the request's stream closed, which ends its handler.
func checkCancel(t *testing.T, s *session, ep *endpoint, modernUp bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		req := mcp.CallToolRequest{}
		req.Params.Name = "slow"
		_, err := s.Client.CallTool(ctx, req)
		done <- err
	}()
	testkit.Eventually(10*time.Second, func() bool { return ep.count("tools/call slow") > 0 })
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a cancelled call succeeded")
	}
	if modernUp {
		select {
		case <-ep.slowEnded:
		case <-time.After(10 * time.Second):
			t.Fatalf("the server's handler was not cancelled\n%s", s.Stderr.String())
		}
		return
	}
	select {
	case id := <-ep.cancel:
		if id == "" || id == "null" {
			t.Fatalf("cancelled without a request id")
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("notifications/cancelled never reached the server\n%s", s.Stderr.String())
	}
}

// A relay started with a cached token answers start-up with the server's
// own capabilities and identity.
func TestProxy_StartupUsesServerWhenTokenCached(t *testing.T) {
	_, _, e := mcpEnv(t, "")
	e.startEra(false).whoami(t)
	for _, modern := range []bool{false, true} {
		s := e.startEra(modern)
		if s.result.ServerInfo.Name != "test-mcp/mcp" && !modern {
			t.Fatalf("start-up with a cached token: server %q", s.result.ServerInfo.Name)
		}
		s.whoami(t)
	}
	e.wantOpens(t, 1, "with the token cached")
}

// A 2025-era server forgets the session (404): the relay starts a new one
// and the call succeeds, without a new sign-in, whatever the client's era.
func TestProxy_SessionDropped(t *testing.T) {
	_, ep, e := mcpEnv(t, "2025")
	for _, modern := range []bool{false, true} {
		s := e.startEra(modern)
		s.whoami(t)
		before := ep.count("initialize")
		ep.forget()
		s.whoami(t)
		if ep.count("initialize") != before+1 {
			t.Fatalf("initialize %d times after the 404, want 1", ep.count("initialize")-before)
		}
		// The new session carries notifications too.
		checkNotifications(t, s)
	}
	e.wantOpens(t, 1, "after the 404s")
}

// Two relays for two servers on the same host share one vault directory
// and key: each server only ever sees tokens for itself.
func TestProxy_TwoServersIsolated(t *testing.T) {
	mc := newMCPChain(t, "", "/a/mcp", "/b/mcp")
	ea := proxyEnv(t, mc, "/a/mcp")
	eb := proxyEnv(t, mc, "/b/mcp")
	for k, v := range ea.Vars { // same data dir, key and browser log
		if strings.HasPrefix(k, "RELAY_") && k != "RELAY_MCP_URL" || k == "FAKEBROWSER_LOG" {
			eb.Vars[k] = v
		}
	}
	eb.log = ea.log
	a, b := ea.startEra(true), eb.startEra(false)
	var wg sync.WaitGroup
	for _, s := range []*session{a, b, a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); s.whoami(t) }()
	}
	wg.Wait()
	if ea.opens() != 2 {
		t.Fatalf("%d sign-ins, want one per server", ea.opens())
	}
	checkAudience(t, mc.eps["/a/mcp"])
	checkAudience(t, mc.eps["/b/mcp"])
	accts, err := ea.vault().Accounts(context.Background())
	if err != nil || len(accts) != 2 {
		t.Fatalf("vault accounts: %v %v", accts, err)
	}
}

// RELAY_HEADERS reach the server, with ${VAR} expanded, and never appear
// in the debug log.
func TestProxy_Headers(t *testing.T) {
	_, ep, e := mcpEnv(t, "")
	const key = "fake-api-key-0123456789"
	s := e.start("TEST_API_KEY="+key, "RELAY_HEADERS=X-Api-Key: ${TEST_API_KEY}\nX-Team: blue")
	s.whoami(t)
	hs := ep.headers()
	if h := hs[len(hs)-1]; h.Get("X-Api-Key") != key || h.Get("X-Team") != "blue" {
		t.Fatalf("headers at the server: %v", h)
	}
	if strings.Contains(s.Stderr.String(), key) || !strings.Contains(s.Stderr.String(), "level=DEBUG") {
		t.Fatal("the header value appears in the debug log (or there is no debug log)")
	}
	// A refused header does not stop the relay: requests report it.
	bad := e.startEra(false, "RELAY_HEADERS=Authorization: Bearer x")
	bad.fails(t, "whoami", "Authorization")
}

// The server's event stream for a call breaks off after its first event:
// the relay resumes it with Last-Event-ID, the call completes, and every
// notification arrives once. The server offers no GET stream (405), so
// that every notification goes on the call's stream.
func TestProxy_StreamResumed(t *testing.T) {
	_, ep, e := mcpEnv(t, "")
	ep.noGET = true
	s := e.startEra(false)
	s.whoami(t)
	cut := ep.cutNext("tools/call progress")
	req := mcp.CallToolRequest{}
	req.Params.Name = "progress"
	req.Params.Meta = &mcp.Meta{ProgressToken: "p-cut"}
	res, err := s.Client.CallTool(ctx30(t), req)
	if err != nil || len(res.Content) != 1 || res.Content[0].(mcp.TextContent).Text != "done" {
		t.Fatalf("the call across the cut: %v %+v\n%s", err, res, s.Stderr.String())
	}
	select {
	case <-cut:
	default:
		t.Fatal("the stream was never cut")
	}
	if ep.getsWithLastEventID() == 0 {
		t.Fatalf("the relay did not resume with Last-Event-ID\n%s", s.Stderr.String())
	}
	s.waitNote(t, "notifications/progress", `"progress":2`)
	s.waitNote(t, "notifications/message", "log from the server")
	s.whoami(t) // anything late has arrived by now
	for _, want := range []string{`"progress":1`, `"progress":2`} {
		if n := s.countNotes("notifications/progress", `"p-cut"`, want); n != 1 {
			t.Fatalf("progress %s arrived %d times", want, n)
		}
	}
	if n := s.countNotes("notifications/message", "log from the server"); n != 1 {
		t.Fatalf("the log message arrived %d times", n)
	}
}

// The GET stream for the server's own messages drops: the relay reopens it
// with Last-Event-ID, and what the server sent meanwhile arrives once.
func TestProxy_GETStreamResumed(t *testing.T) {
	_, ep, e := mcpEnv(t, "")
	s := e.startEra(false)
	s.whoami(t)
	broadcast := func(text string) {
		ep.srv.SendNotificationToAllClients("notifications/message", map[string]any{"level": "info", "data": text})
	}
	broadcast("before the drop")
	s.waitNote(t, "notifications/message", "before the drop")
	if ep.dropGETs() == 0 {
		t.Fatal("no GET stream to drop")
	}
	broadcast("during the drop")
	s.waitNote(t, "notifications/message", "during the drop")
	if ep.getsWithLastEventID() == 0 {
		t.Fatalf("the relay did not resume with Last-Event-ID\n%s", s.Stderr.String())
	}
	broadcast("after the drop")
	s.waitNote(t, "notifications/message", "after the drop")
	for _, text := range []string{"before the drop", "during the drop", "after the drop"} {
		if n := s.countNotes("notifications/message", text); n != 1 {
			t.Fatalf("%q arrived %d times", text, n)
		}
	}
}

// Behind a load balancer that keeps each MCP session on one node with a
// cookie (AWS ALB and others), the relay sends the cookie back, so every
// request of the session reaches its node: the calls work and no request
// of the session comes without the cookie. The cookie never appears in
// the debug log. (2025 era: the 2026-07-28 era has no sessions.)
func TestProxy_LoadBalancerCookie(t *testing.T) {
	_, ep, e := mcpEnv(t, "2025")
	ep.mu.Lock()
	ep.sticky = true
	ep.mu.Unlock()
	for _, modern := range []bool{false, true} {
		s := e.startEra(modern)
		for i := 0; i < 3; i++ {
			s.whoami(t)
		}
		if strings.Contains(s.Stderr.String(), "node1") {
			t.Fatal("the load balancer's cookie is in the relay's log")
		}
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.unstuck != 0 {
		t.Fatalf("%d session requests came without the load balancer's cookie", ep.unstuck)
	}
}

// RELAY_IGNORE_TOOLS (mcp-remote's --ignore-tool): the tools named by the
// patterns are missing from tools/list, and a call of one is refused by the
// relay without reaching the server; the other tools work. Both eras.
func TestProxy_IgnoreTools(t *testing.T) {
	_, ep, e := mcpEnv(t, "")
	for _, modern := range []bool{false, true} {
		s := e.startEra(modern, "RELAY_IGNORE_TOOLS=ASK, add_*")
		ctx := ctx30(t)
		tools, err := s.Client.ListTools(ctx, mcp.ListToolsRequest{})
		testkit.NoErr(t, err)
		var names []string
		for _, tool := range tools.Tools {
			names = append(names, tool.Name)
		}
		list := strings.Join(names, ",")
		if strings.Contains(","+list+",", ",ask,") || strings.Contains(list, "add_tool") || !strings.Contains(list, "whoami") {
			t.Fatalf("modern=%v: tools listed: %s", modern, list)
		}
		req := mcp.CallToolRequest{}
		req.Params.Name = "ask"
		if _, err := s.Client.CallTool(context.Background(), req); err == nil || !strings.Contains(err.Error(), "RELAY_IGNORE_TOOLS") {
			t.Fatalf("modern=%v: a call of an ignored tool: %v", modern, err)
		}
		s.whoami(t)
	}
	if n := ep.count("tools/call ask"); n != 0 {
		t.Fatalf("the server got %d calls of an ignored tool", n)
	}
}

// RELAY_PING_INTERVAL (mcp-remote's --keep-alive): once a 2025-era session
// is open, the relay pings the server on its own, with the token it has,
// and the session stays usable; without the setting it sends no ping.
func TestProxy_KeepAlive(t *testing.T) {
	_, ep, e := mcpEnv(t, "2025")
	s := e.startEra(false)
	s.whoami(t)
	time.Sleep(1500 * time.Millisecond)
	if n := ep.count("ping"); n != 0 {
		t.Fatalf("%d pings without RELAY_PING_INTERVAL", n)
	}
	s = e.startEra(true, "RELAY_PING_INTERVAL=1s")
	s.whoami(t)
	if !testkit.Eventually(20*time.Second, func() bool { return ep.count("ping") >= 2 }) {
		t.Fatalf("%d pings in 20 s with RELAY_PING_INTERVAL=1s\n%s", ep.count("ping"), s.Stderr.String())
	}
	s.whoami(t)
	e.wantOpens(t, 1, "the pings must not sign in")
}

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
			maps.Copy(eb.Vars, ea.Vars)
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
