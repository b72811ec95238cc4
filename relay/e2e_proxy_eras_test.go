package main

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestProxy_Eras drives one relay in front of a real Streamable HTTP MCP
// server, for each client era against a server of both eras and of each
// era alone: start-up without a login; one sign-in on the first request
// (the authorization server discovered from the server's 401); what every
// session carries (checkSession: tools, resources, prompts, completion,
// sampling, notifications, list_changed, a refresh on 401); elicitation;
// the relay's own list_changed once connected; cancellation; and a
// step-up on 403. The proxy speaks the client's era to a server of both,
// else the server's: no initialize to a 2026-07-28 server, no 2026-07-28
// request to a 2025-era one.
func TestProxy_Eras(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modern bool   // the client speaks 2026-07-28
		server string // the only era the server speaks; "": both
	}{
		{"client2025_serverBoth", false, ""},
		{"client2026_serverBoth", true, ""},
		{"client2025_server2025", false, "2025"},
		{"client2025_server2026", false, "2026"},
		{"client2026_server2025", true, "2025"},
		{"client2026_server2026", true, "2026"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mc, ep, e := mcpEnv(t, tc.server)
			start := time.Now()
			s := e.startEra(tc.modern)
			if time.Since(start) > 5*time.Second || e.opens() != 0 || mc.Codes.Load() != 0 {
				t.Fatalf("start-up waited or signed in: %v, %d opens", time.Since(start), e.opens())
			}
			if s.result.ServerInfo.Name != "keyrelay" {
				t.Fatalf("start-up without a token should answer for keyrelay, got %q", s.result.ServerInfo.Name)
			}
			checkSession(t, mc, ep, e, s, "ask", 8, tc.modern)
			if out := s.MustCall(t, "confirm", nil); out != "the person said accept map[sure:true]" || s.timesElicited() != 1 {
				t.Fatalf("elicitation during a call: %q, elicited %d\n%s", out, s.timesElicited(), s.Stderr.String())
			}
			s.waitNote(t, "notifications/tools/list_changed", "")
			modernUp := tc.server == "2026" || tc.server == "" && tc.modern // the era the proxy speaks to the server
			if n := ep.count("initialize"); modernUp && n != 0 || !modernUp && n != 1 {
				t.Fatalf("initialize sent %d times, for a modern=%v client and a server of era %q", n, tc.modern, tc.server)
			}
			checkCancel(t, s, ep, modernUp)
			if out := s.MustCall(t, "admin_stats", nil); out != "uptime_seconds=42" || e.opens() != 2 {
				t.Fatalf("step-up: %s, %d opens (want 2: sign-in, step-up)", out, e.opens())
			}
		})
	}
}

// checkListChanged adds a tool at the server: the client hears of it. A
// 2026-07-28 client asks for it with subscriptions/listen.
func checkListChanged(t *testing.T, s *session, modern bool) {
	t.Helper()
	if modern {
		stop, err := s.Client.ListenAsync(context.Background(), mcp.SubscriptionFilter{ToolsListChanged: true}, nil)
		testkit.NoErr(t, err)
		defer stop()
		s.waitNote(t, "notifications/subscriptions/acknowledged", `"toolsListChanged":true`)
	}
	before := s.countNotes("notifications/tools/list_changed")
	s.MustCall(t, "add_tool", nil)
	if !testkit.Eventually(10*time.Second, func() bool { return s.countNotes("notifications/tools/list_changed") > before }) {
		t.Fatalf("no tools/list_changed after add_tool\n%s", s.Stderr.String())
	}
	if out := s.MustCall(t, "added", nil); out != "added ok" {
		t.Fatalf("added: %q", out)
	}
}

// A 2026-07-28 client of a 2025-era server, on the wire: the server's
// sampling request during a call comes as an input_required result whose
// requestState is the proxy's; the retry with inputResponses gets the
// call's result. A state is good for one retry of the same request, and
// an unknown one is refused.
func TestProxy_InputRequiredForModernClient(t *testing.T) {
	_, ep, e := mcpEnv(t, "2025")
	r := e.startRaw()
	meta := map[string]any{"io.modelcontextprotocol/protocolVersion": "2026-07-28",
		"io.modelcontextprotocol/clientCapabilities": map[string]any{"sampling": map[string]any{}},
		"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "raw", "version": "1"}}
	call := func(id int, name string, extra map[string]any) testkit.Msg {
		params := map[string]any{"name": name, "arguments": map[string]any{}, "_meta": meta}
		maps.Copy(params, extra)
		return r.request(id, "tools/call", params)
	}
	r.request(1, "server/discover", map[string]any{"_meta": meta})
	first := call(2, "ask", nil)
	var ir struct {
		ResultType    string `json:"resultType"`
		RequestState  string `json:"requestState"`
		InputRequests map[string]struct {
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		} `json:"inputRequests"`
	}
	if err := json.Unmarshal(first.Result, &ir); err != nil || ir.ResultType != "input_required" || len(ir.RequestState) < 40 || len(ir.InputRequests) != 1 {
		t.Fatalf("want an input_required result with a requestState: %s %v\n%s", first.Result, first.Error, r.Stderr.String())
	}
	var key string
	for k, req := range ir.InputRequests {
		if key = k; req.Method != "sampling/createMessage" || !strings.Contains(string(req.Params), "what is 2+2?") {
			t.Fatalf("input request: %s %s", req.Method, req.Params)
		}
	}
	answer := map[string]any{key: map[string]any{"role": "assistant", "model": "m", "content": map[string]any{"type": "text", "text": "four"}}}
	final := call(3, "ask", map[string]any{"inputResponses": answer, "requestState": ir.RequestState})
	testkit.Contains(t, "the retry's result", string(final.Result), "the client said four", `"resultType":"complete"`)
	if ep.count("tools/call ask") != 1 {
		t.Fatalf("the server got the call %d times; the proxy should hold one call open", ep.count("tools/call ask"))
	}
	for _, tc := range []struct {
		name, state string
	}{{"reused", ir.RequestState}, {"unknown", "bogus-state"}} {
		resp := call(10, "ask", map[string]any{"inputResponses": answer, "requestState": tc.state})
		if resp.Error == nil || resp.Error.Code != -32602 || !strings.Contains(resp.Error.Message, "requestState") {
			t.Fatalf("%s requestState: %s %+v", tc.name, resp.Result, resp.Error)
		}
	}
	// A state is bound to its request: used with another tool, it is
	// refused, and spent.
	second := call(20, "ask", nil)
	_ = json.Unmarshal(second.Result, &ir)
	if resp := call(21, "whoami", map[string]any{"requestState": ir.RequestState}); resp.Error == nil {
		t.Fatalf("a state used for another tool: %s", resp.Result)
	}
	if resp := call(22, "ask", map[string]any{"inputResponses": answer, "requestState": ir.RequestState}); resp.Error == nil {
		t.Fatalf("a state spent on a mismatch still works: %s", resp.Result)
	}
}

// A 2025-era client of a 2026-07-28 server, on the wire: the server's
// input_required result comes to the client as a sampling request, and
// the call's result follows; logging/setLevel is answered by the proxy
// (the level goes in each request's _meta).
func TestProxy_InputRequestsForLegacyClient(t *testing.T) {
	_, ep, e := mcpEnv(t, "2026")
	r := e.startRaw()
	r.request(1, "initialize", map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{"sampling": map[string]any{}},
		"clientInfo": map[string]any{"name": "raw", "version": "1"}})
	r.send(map[string]any{"jsonrpc": "2.0", "method": "notifications/initialized"})
	if resp := r.request(2, "logging/setLevel", map[string]any{"level": "debug"}); resp.Error != nil {
		t.Fatalf("logging/setLevel: %+v", resp.Error)
	}
	r.send(map[string]any{"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": map[string]any{"name": "ask", "arguments": map[string]any{}}})
	ask := r.next(func(m testkit.Msg) bool { return m.Method != "" && m.ID != nil })
	if ask.Method != "sampling/createMessage" || !strings.Contains(string(ask.Params), "what is 2+2?") {
		t.Fatalf("want a sampling request: %s %s", ask.Method, ask.Params)
	}
	r.send(map[string]any{"jsonrpc": "2.0", "id": ask.ID, "result": map[string]any{"role": "assistant", "model": "m",
		"content": map[string]any{"type": "text", "text": "four"}}})
	final := r.response(3)
	testkit.Contains(t, "the call's result", string(final.Result), "the client said four")
	if ep.count("tools/call ask") != 2 || ep.count("initialize") != 0 || ep.count("logging/setLevel") != 0 {
		t.Fatalf("at the server: %d calls (want the call and its retry), %d initialize, %d setLevel",
			ep.count("tools/call ask"), ep.count("initialize"), ep.count("logging/setLevel"))
	}
	for _, h := range ep.headers() {
		if h.Get("Mcp-Session-Id") != "" || (h.Get("Mcp-Method") == "tools/call" && h.Get("Mcp-Name") != "ask") {
			t.Fatalf("2026-07-28 headers: %v", h)
		}
	}
}

// A 2025-era server's request on its GET stream belongs to no client
// request, so a 2026-07-28 client cannot be asked: the server gets an
// error at once. A 2025-era client is asked.
func TestProxy_ServerRequestOutsideCall(t *testing.T) {
	for _, modern := range []bool{false, true} {
		_, ep, e := mcpEnv(t, "2025")
		s := e.startEra(modern)
		s.MustCall(t, "remember", nil)
		ep.mu.Lock()
		held := ep.held
		ep.mu.Unlock()
		req := mcp.CreateMessageRequest{}
		req.Messages = []mcp.SamplingMessage{{Role: mcp.RoleUser, Content: mcp.NewTextContent("out of the blue")}}
		req.MaxTokens = 10
		_, err := ep.srv.RequestSampling(ep.srv.WithContext(ctx30(t), held), req) //lint:ignore SA1019 a 2025-era server request on the GET stream
		switch {
		case modern && (err == nil || !strings.Contains(err.Error(), "input_required")):
			t.Fatalf("2026-07-28 client: the server's request got %v, want keyrelay's error", err)
		case modern && s.timesAsked() != 0:
			t.Fatal("a 2026-07-28 client was sent a request")
		case !modern && (err != nil || s.timesAsked() != 1):
			t.Fatalf("2025 client: %v, asked %d", err, s.timesAsked())
		}
	}
}

// rawRelay is a relay process driven with raw JSON-RPC lines, to check
// what goes over the wire.
type rawRelay struct {
	*testkit.Proc
	t *testing.T
}

func (e *relayEnv) startRaw() *rawRelay {
	e.t.Helper()
	return &rawRelay{e.Start(e.t, []string{"serve"}), e.t}
}

func (r *rawRelay) send(v any) {
	r.t.Helper()
	r.SendJSON(r.t, v)
}

// next returns the next message that match accepts, skipping
// notifications; any other request or response fails the test.
func (r *rawRelay) next(match func(testkit.Msg) bool) testkit.Msg {
	r.t.Helper()
	end := time.Now().Add(30 * time.Second)
	for {
		m, ok := r.Read(r.t, time.Until(end))
		switch {
		case !ok:
			r.t.Fatalf("the relay ended, or no answer\n%s", r.Stderr.String())
		case match(m):
			return m
		case m.IsNote():
			continue
		}
		r.t.Fatalf("unexpected message: %s %s %s\n%s", m.ID, m.Method, m.Result, r.Stderr.String())
	}
}

// response waits for the response to id.
func (r *rawRelay) response(id int) testkit.Msg {
	r.t.Helper()
	want, _ := json.Marshal(id)
	return r.next(func(m testkit.Msg) bool { return m.Method == "" && string(m.ID) == string(want) })
}

// request sends a request and waits for its response.
func (r *rawRelay) request(id int, method string, params any) testkit.Msg {
	r.t.Helper()
	r.send(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	return r.response(id)
}
