package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/chain"
)

// sseEnv starts our authorization server and a real mcp-go server of the
// legacy HTTP+SSE transport (server.NewSSEServer): the stream at /sse (the
// MCP URL), the message endpoint at /message, both behind the same JWT
// middleware as the Streamable HTTP servers (a token for /sse). Its
// ask_sse tool sends the client a sampling request on the stream, as a
// 2024-11-05 server does, and waits for the answer. It returns them with
// a relay configured for the server.
func sseEnv(t *testing.T, opts ...func(base string) server.SSEOption) (*mcpChain, *endpoint, *relayEnv) {
	t.Helper()
	mc := &mcpChain{eps: map[string]*endpoint{}}
	var sseSrv *server.SSEServer
	mc.Server = chain.Start(t, chain.Options{Resources: []string{"/sse"}, ConnContext: withConn,
		Handle: func(c *chain.Server, mux *http.ServeMux) {
			ep := mc.newEndpoint(t, c, mux, "/sse")
			sseOpts := []server.SSEOption{server.WithSSEEndpoint("/sse"), server.WithMessageEndpoint("/message"), server.WithSSEContextFunc(ep.withRequest)}
			for _, o := range opts {
				sseOpts = append(sseOpts, o(c.URL))
			}
			sseSrv = server.NewSSEServer(ep.srv, sseOpts...)
			answers := &clientAnswers{wait: map[string]chan json.RawMessage{}}
			ep.srv.AddTool(mcp.NewTool("ask_sse"), answers.askTool(sseSrv))
			h := ep.middleware(answers.watch(sseSrv))
			mux.Handle("/sse", h)
			mux.Handle("/message", h)
		}})
	t.Cleanup(sseSrv.CloseSessions) // before the chain stops
	return mc, mc.eps["/sse"], proxyEnv(t, mc, "/sse")
}

// clientAnswers are the client's answers to the server's requests, seen
// on their way to the message endpoint.
type clientAnswers struct {
	mu   sync.Mutex
	n    atomic.Int64
	wait map[string]chan json.RawMessage // by request id
}

func (a *clientAnswers) watch(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var m struct {
			ID     string          `json:"id"`
			Method string          `json:"method"`
			Result json.RawMessage `json:"result"`
		}
		if json.Unmarshal(body, &m) == nil && m.Method == "" && m.ID != "" {
			a.mu.Lock()
			if ch := a.wait[m.ID]; ch != nil {
				ch <- m.Result
			}
			a.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

// askTool asks the client to sample on the session's stream.
func (a *clientAnswers) askTool(sseSrv *server.SSEServer) server.ToolHandlerFunc {
	return func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		id := fmt.Sprintf("srv-ask-%d", a.n.Add(1))
		ch := make(chan json.RawMessage, 1)
		a.mu.Lock()
		a.wait[id] = ch
		a.mu.Unlock()
		q := mcp.CreateMessageParams{Messages: []mcp.SamplingMessage{{Role: mcp.RoleUser, Content: mcp.NewTextContent("what is 2+2?")}}, MaxTokens: 10}
		req := map[string]any{"jsonrpc": "2.0", "id": id, "method": "sampling/createMessage", "params": q}
		if err := sseSrv.SendEventToSession(server.ClientSessionFromContext(ctx).SessionID(), req); err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		select {
		case raw := <-ch:
			var res struct {
				Content struct {
					Text string `json:"text"`
				} `json:"content"`
			}
			_ = json.Unmarshal(raw, &res)
			return mcp.NewToolResultText("the client said " + res.Content.Text), nil
		case <-time.After(20 * time.Second):
			return mcp.NewToolResultError("no answer"), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (ep *endpoint) streamGETs() int {
	return ep.countHeaders(func(h http.Header) bool { return h.Get("Accept") == "text/event-stream" && h.Get("Content-Type") == "" })
}

// TestProxy_LegacySSE drives the relay in front of a server of the legacy
// HTTP+SSE transport only, in both client eras, with the transport forced
// (sse) and found (auto: the POST gets 405 after the sign-in): a sign-in
// on the stream's 401, tools, resources, prompts and completion, sampling
// during a call (a request to a 2025-era client, an input_required result
// for a 2026-07-28 one), progress, log and list_changed notifications, and
// a refresh when the token is refused at the message endpoint.
func TestProxy_LegacySSE(t *testing.T) {
	for _, transport := range []string{"sse", "auto"} {
		for _, modern := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/modern=%v", transport, modern), func(t *testing.T) {
				mc, ep, e := sseEnv(t)
				e.Vars["RELAY_MCP_TRANSPORT"] = transport
				s := e.startEra(modern)
				checkSession(t, mc, ep, e, s, "ask_sse", 9, modern)
				if n := ep.count("server/discover"); (n == 0) != (transport == "sse") {
					t.Fatalf("server/discover sent %d times with transport %s", n, transport)
				}
				if ep.count("initialize") != 1 || ep.streamGETs() == 0 {
					t.Fatalf("initialize %d times, %d GETs; want one session", ep.count("initialize"), ep.streamGETs())
				}
			})
		}
	}
}

// The SSE stream drops: a call in flight fails clearly, the relay
// reconnects in the background (a new GET, a new endpoint, a new
// session) without a sign-in, and the server's messages flow again.
func TestProxy_LegacySSEDropped(t *testing.T) {
	for _, modern := range []bool{false, true} {
		t.Run(fmt.Sprintf("modern=%v", modern), func(t *testing.T) {
			_, ep, e := sseEnv(t)
			s := e.startEra(modern, "RELAY_MCP_TRANSPORT=sse")
			s.whoami(t)
			gets := ep.streamGETs()
			type result struct {
				text  string
				isErr bool
			}
			done := make(chan result, 1)
			go func() { text, isErr := s.Call(t, "slow", nil); done <- result{text, isErr} }()
			testkit.Eventually(10*time.Second, func() bool { return ep.count("tools/call slow") > 0 })
			if ep.dropGETs() == 0 {
				t.Fatal("no stream to drop")
			}
			select {
			case r := <-done:
				if !r.isErr || !strings.Contains(r.text, "dropped before the response") {
					t.Fatalf("the call in flight: %v %q", r.isErr, r.text)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("the call in flight did not fail\n%s", s.Stderr.String())
			}
			// No request: the relay reconnects by itself.
			testkit.Eventually(15*time.Second, func() bool { return ep.count("initialize") >= 2 })
			if ep.streamGETs() <= gets || ep.count("initialize") != 2 {
				t.Fatalf("no reconnection: %d GETs (were %d), %d initialize\n%s", ep.streamGETs(), gets, ep.count("initialize"), s.Stderr.String())
			}
			// The server takes notifications/initialized in the background:
			// send until the new session is initialized.
			sent := testkit.Eventually(10*time.Second, func() bool {
				if s.countNotes("notifications/message", "after the drop") > 0 {
					return true
				}
				ep.srv.SendNotificationToAllClients("notifications/message", map[string]any{"level": "error", "data": "after the drop"})
				return false
			})
			if !sent {
				t.Fatalf("no server message after the reconnection\n%s", s.Stderr.String())
			}
			if out := s.whoami(t); !strings.Contains(out, "alice") || e.opens() != 1 {
				t.Fatalf("after the reconnection: %s, %d opens", out, e.opens())
			}
		})
	}
}

// RELAY_MCP_TRANSPORT=streamable-http on a server of the legacy transport
// only fails clearly, and never opens the SSE stream.
func TestProxy_LegacySSEStreamableForced(t *testing.T) {
	_, ep, e := sseEnv(t)
	s := e.startEra(false, "RELAY_MCP_TRANSPORT=streamable-http")
	s.fails(t, "whoami", "405", "RELAY_MCP_TRANSPORT=sse")
	if ep.streamGETs() != 0 {
		t.Fatalf("%d GETs with streamable-http", ep.streamGETs())
	}
}

// A server whose endpoint event names another origin is refused: the
// request fails clearly, and nothing is sent there.
func TestProxy_LegacySSEBadEndpoint(t *testing.T) {
	var hits atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer evil.Close()
	_, _, e := sseEnv(t, func(string) server.SSEOption { return server.WithBaseURL(evil.URL) })
	s := e.startEra(false, "RELAY_MCP_TRANSPORT=sse")
	s.fails(t, "whoami", "refusing the MCP server's message endpoint: it is on another port")
	if hits.Load() != 0 {
		t.Fatalf("the other origin got %d requests", hits.Load())
	}
}
