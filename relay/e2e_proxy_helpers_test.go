package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/keyrelay/keyrelay/backend/bearer"
	"github.com/keyrelay/keyrelay/backend/example"
	"github.com/keyrelay/keyrelay/backend/tool"
	"github.com/keyrelay/keyrelay/internal/dpop"
	"github.com/keyrelay/keyrelay/internal/testkit/chain"
)

// mcpChain is our authorization server plus real mcp-go Streamable HTTP
// MCP servers on one loopback listener, each behind a JWT middleware that
// validates the Bearer token for its own URL (the audience), answers 401
// with a challenge naming its protected resource metadata (RFC 9728), and
// 403 insufficient_scope for admin_stats without the admin scope.
type mcpChain struct {
	*chain.Server
	eps map[string]*endpoint // by path
}

// endpoint is one MCP server and what it received.
type endpoint struct {
	url       string
	origin    string       // the chain's URL: the origin of the endpoint's canonical URL
	dpop      *bearer.DPoP // nil: bearer tokens only (a DPoP-bound token is refused)
	prm       string
	srv       *server.MCPServer
	v         tool.Validator
	mu        sync.Mutex
	tokens    []*bearer.Token
	rpcs      []string // method (and tool name) of every JSON-RPC message
	hdrs      []http.Header
	gone      map[string]bool      // session ids the server has forgotten
	cancel    chan string          // requestId of notifications/cancelled
	cutRPC    string               // the next POST for this rpc has its stream cut after one event
	cut       chan struct{}        // closed once it is cut
	gets      []net.Conn           // the connections of the GET streams
	noGET     bool                 // answer 405 to a GET that resumes nothing
	era       string               // "2025" or "2026": the server speaks only that era (eraFilter); "": both
	held      server.ClientSession // the session of the last "remember" call
	slowEnded chan struct{}        // the slow tool's handler was cancelled
	sticky    bool                 // behind a load balancer that keeps a session on its node with a cookie (stickyLB)
	unstuck   int                  // session requests that came without the load balancer's cookie
}

// newMCPChain starts a chain with an MCP server at each of paths, which
// speaks only era ("2025" or "2026"; "": both).
func newMCPChain(t *testing.T, era string, paths ...string) *mcpChain {
	t.Helper()
	return newMCPChainOpts(t, era, chain.Options{}, paths...)
}

// newMCPChainOpts is newMCPChain with more chain options (DPoP).
func newMCPChainOpts(t *testing.T, era string, o chain.Options, paths ...string) *mcpChain {
	t.Helper()
	mc := &mcpChain{eps: map[string]*endpoint{}}
	mc.Server = chain.Start(t, chain.Options{Resources: paths, ConnContext: withConn, DPoP: o.DPoP,
		Handle: func(c *chain.Server, mux *http.ServeMux) {
			for _, p := range paths {
				ep := mc.newEndpoint(t, c, mux, p)
				ep.era = era
				if o.DPoP {
					ep.dpop = &bearer.DPoP{Verifier: dpop.NewVerifier(dpop.VerifierConfig{})}
				}
				// The event store makes streams resumable (Last-Event-ID), and
				// works around a race in mcp-go v1.2.1's server without one: a
				// notification sent just before the result is dropped.
				opts := []server.StreamableHTTPOption{server.WithEndpointPath(p), server.WithEventStore(server.NewInMemoryEventStore()),
					server.WithHTTPContextFunc(ep.withRequest)}
				if era == "2026" { // server/discover offers 2026-07-28 only
					opts = append(opts, server.WithStreamableHTTPProtocolVersions(mcp.ProtocolVersion20260728))
				}
				mux.Handle(p, ep.middleware(server.NewStreamableHTTPServer(ep.srv, opts...)))
			}
		}})
	return mc
}

// withConn puts the request's net.Conn in its context (connKey).
func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

type (
	tokenKey struct{}
	connKey  struct{} // the request's net.Conn
	cutKey   struct{} // the channel closed when the request's stream is cut
	epKey    struct{} // the *endpoint
)

func endpointFrom(ctx context.Context) *endpoint {
	ep, _ := ctx.Value(epKey{}).(*endpoint)
	return ep
}

// newEndpoint makes the endpoint at path, with testMCPServer, and serves
// its protected resource metadata on mux.
func (mc *mcpChain) newEndpoint(t *testing.T, c *chain.Server, mux *http.ServeMux, path string) *endpoint {
	t.Helper()
	ep := &endpoint{url: c.URL + path, origin: c.URL, prm: c.URL + "/.well-known/oauth-protected-resource" + path,
		v: c.Validator(t, c.URL+path), gone: map[string]bool{}, cancel: make(chan string, 10), slowEnded: make(chan struct{}, 10)}
	ep.srv = testMCPServer(path)
	mc.eps[path] = ep
	mux.HandleFunc(strings.TrimPrefix(ep.prm, c.URL), func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"resource": ep.url, "authorization_servers": []string{c.URL}})
	})
	return ep
}

// withRequest is the MCP server's context for r: the endpoint, and the
// token and stream cut the middleware put in r's context.
func (ep *endpoint) withRequest(ctx context.Context, r *http.Request) context.Context {
	for _, k := range []any{tokenKey{}, cutKey{}} {
		ctx = context.WithValue(ctx, k, r.Context().Value(k))
	}
	return context.WithValue(ctx, epKey{}, ep)
}

// testMCPServer has tools, resources, prompts with completion, a tool
// that reports progress and logs, one that asks the client to sample,
// one that blocks until cancelled, and one that adds a tool.
func testMCPServer(name string) *server.MCPServer {
	//lint:ignore SA1019 the proxy forwards the 2025-era server-initiated requests; this server makes them
	legacyRequests := server.WithLegacyServerInitiatedRequests()
	s := server.NewMCPServer("test-mcp"+name, "1.0", server.WithToolCapabilities(true), server.WithResourceCapabilities(true, true),
		server.WithPromptCapabilities(true), server.WithLogging(), server.WithCompletions(), legacyRequests,
		server.WithPromptCompletionProvider(names{}))
	text := mcp.NewToolResultText
	s.AddTool(mcp.NewTool("whoami"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		tok, _ := ctx.Value(tokenKey{}).(*bearer.Token)
		if tok == nil {
			return mcp.NewToolResultError("no token"), nil
		}
		return text("subject=" + tok.Subject + " scopes=" + strings.Join(tok.Scopes, " ")), nil
	})
	s.AddTool(mcp.NewTool("admin_stats"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return text("uptime_seconds=42"), nil
	})
	s.AddTool(mcp.NewTool("progress"), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		srv := server.ServerFromContext(ctx)
		if req.Params.Meta != nil && req.Params.Meta.ProgressToken != nil {
			for i := 1; i <= 2; i++ {
				_ = srv.SendNotificationToClient(ctx, "notifications/progress", map[string]any{"progressToken": req.Params.Meta.ProgressToken, "progress": i, "total": 2})
				if cut, _ := ctx.Value(cutKey{}).(chan struct{}); cut != nil && i == 1 {
					select { // the rest goes after the stream is cut
					case <-cut:
					case <-time.After(5 * time.Second):
					}
				}
			}
		}
		_ = srv.SendLogMessageToClient(ctx, mcp.NewLoggingMessageNotification(mcp.LoggingLevelError, "test", "log from the server"))
		if logged, _ := ctx.Value(loggedKey{}).(chan struct{}); logged != nil {
			// mcp-go v1.2.1's server drops a notification sent just
			// before the result of a request with no event store, which
			// 2026-07-28 requests never use: wait until it is written.
			select {
			case <-logged:
			case <-time.After(5 * time.Second):
			}
		}
		return text("done"), nil
	})
	// ask and confirm need input, the 2026-07-28 way (input_required);
	// mcp-go's server turns that into sampling and elicitation requests
	// for a 2025-era request.
	s.AddTool(mcp.NewTool("ask"), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if res := server.SamplingResponse(req.Params.InputResponses, "q"); res != nil {
			tc, _ := res.Content.(mcp.TextContent)
			if tc.Text == "" {
				if m, ok := res.Content.(map[string]any); ok {
					tc.Text, _ = m["text"].(string)
				}
			}
			return text("the client said " + tc.Text), nil
		}
		q := mcp.CreateMessageParams{Messages: []mcp.SamplingMessage{{Role: mcp.RoleUser, Content: mcp.NewTextContent("what is 2+2?")}}, MaxTokens: 10}
		return server.NewInputRequestBuilder("").Sample("q", q).ToolResult(), nil
	})
	s.AddTool(mcp.NewTool("confirm"), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if res := server.ElicitationResponse(req.Params.InputResponses, "ok"); res != nil {
			return text(fmt.Sprintf("the person said %s %v", res.Action, res.Content)), nil
		}
		e := mcp.ElicitationParams{Message: "go ahead?", RequestedSchema: map[string]any{"type": "object",
			"properties": map[string]any{"sure": map[string]any{"type": "boolean"}}}}
		return server.NewInputRequestBuilder("").Elicit("ok", e).ToolResult(), nil
	})
	// remember keeps the session, so that a test can make a request
	// outside any client request (on the GET stream).
	s.AddTool(mcp.NewTool("remember"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if ep := endpointFrom(ctx); ep != nil {
			ep.mu.Lock()
			ep.held = server.ClientSessionFromContext(ctx)
			ep.mu.Unlock()
		}
		return text("remembered"), nil
	})
	s.AddTool(mcp.NewTool("slow"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		select {
		case <-ctx.Done():
			if ep := endpointFrom(ctx); ep != nil {
				ep.slowEnded <- struct{}{}
			}
		case <-time.After(30 * time.Second):
		}
		return text("slow done"), nil
	})
	s.AddTool(mcp.NewTool("add_tool"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		s.AddTool(mcp.NewTool("added"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) { return text("added ok"), nil })
		return text("added"), nil
	})
	s.AddResource(mcp.NewResource("test://notes", "notes"), func(context.Context, mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		return []mcp.ResourceContents{mcp.TextResourceContents{URI: "test://notes", MIMEType: "text/plain", Text: "the notes"}}, nil
	})
	s.AddPrompt(mcp.NewPrompt("greet", mcp.WithArgument("name")), func(_ context.Context, r mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return mcp.NewGetPromptResult("greeting", []mcp.PromptMessage{mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent("hello "+r.Params.Arguments["name"]))}), nil
	})
	return s
}

type names struct{}

func (names) CompletePromptArgument(context.Context, string, mcp.CompleteArgument, mcp.CompleteContext) (*mcp.Completion, error) {
	return &mcp.Completion{Values: []string{"alice", "bob"}}, nil
}

// middleware is the JWT check in front of the MCP server.
func (ep *endpoint) middleware(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		ep.mu.Lock()
		ep.hdrs = append(ep.hdrs, r.Header.Clone())
		gone := ep.gone[r.Header.Get("Mcp-Session-Id")]
		ep.mu.Unlock()
		if ep.stickyLB(w, r) {
			return
		}
		raw, scheme, err := bearer.Credentials(r)
		if err != nil {
			bearer.Challenge{Status: 401, ResourceMetadata: ep.prm, DPoP: ep.dpop.Part("")}.Write(w)
			return
		}
		tok, err := ep.v.Validate(r.Context(), raw)
		if err == nil {
			// A DPoP-bound token only with the DPoP scheme and a proof
			// of its key for this request (RFC 9449 §7).
			err = ep.dpop.Check(r, scheme, raw, tok, ep.origin)
		}
		if err != nil {
			ep.dpop.ChallengeFor(err, scheme, ep.prm).Write(w)
			return
		}
		rpc := ep.record(tok, body)
		if rpc == "tools/call admin_stats" && !tok.HasScope(example.ScopeAdmin) {
			bearer.Challenge{Status: 403, Error: "insufficient_scope", Scope: []string{example.ScopeAdmin}, ResourceMetadata: ep.prm}.Write(w)
			return
		}
		if gone {
			http.Error(w, "session not found", http.StatusNotFound)
			return
		}
		if ep.eraFilter(w, r, body) {
			return
		}
		if r.Method == http.MethodGet && r.Header.Get("Last-Event-ID") == "" && ep.refusesGET() {
			http.Error(w, "no event stream here", http.StatusMethodNotAllowed)
			return
		}
		ctx := context.WithValue(r.Context(), tokenKey{}, tok)
		w, ctx = ep.streamCutter(ctx, w, r, rpc)
		if r.Method == http.MethodPost && mcp.IsModernProtocol(r.Header.Get("Mcp-Protocol-Version")) {
			lw := &logWriter{ResponseWriter: w, logged: make(chan struct{})}
			w, ctx = lw, context.WithValue(ctx, loggedKey{}, lw.logged)
		}
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// stickyLB plays a load balancer in front of several nodes when ep.sticky
// is set: every response sets the node's cookie, and a request of a session
// (Mcp-Session-Id) that comes without it lands on another node, which does
// not know the session (404). It reports whether it answered.
func (ep *endpoint) stickyLB(w http.ResponseWriter, r *http.Request) bool {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if !ep.sticky {
		return false
	}
	http.SetCookie(w, &http.Cookie{Name: "AWSALB", Value: "node1", Path: "/", HttpOnly: true})
	if c, err := r.Cookie("AWSALB"); r.Header.Get("Mcp-Session-Id") != "" && (err != nil || c.Value != "node1") {
		ep.unstuck++
		http.Error(w, "session not found", http.StatusNotFound)
		return true
	}
	return false
}

// eraFilter refuses what a server of ep.era only would not understand,
// the way such a server answers, and reports whether it did:
//   - a 2025-era server knows neither server/discover nor
//     subscriptions/listen (method not found), nor 2026-07-28 requests;
//   - a 2026-07-28 server has no initialize (method not found, which that
//     era answers with 404), no session-era requests, and no GET or
//     DELETE (405).
func (ep *endpoint) eraFilter(w http.ResponseWriter, r *http.Request, body []byte) bool {
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Meta map[string]any `json:"_meta"`
		} `json:"params"`
	}
	_ = json.Unmarshal(body, &m)
	version, _ := m.Params.Meta[mcp.MetaKeyProtocolVersion].(string)
	modern := mcp.IsModernProtocol(version) || mcp.IsModernProtocol(r.Header.Get("Mcp-Protocol-Version"))
	rpcError := func(status, code int, msg string) bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		id := m.ID
		if id == nil {
			id = json.RawMessage("null")
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": id, "error": map[string]any{"code": code, "message": msg}})
		return true
	}
	switch {
	case ep.era == "2025" && (m.Method == "server/discover" || m.Method == "subscriptions/listen"):
		return rpcError(http.StatusOK, mcp.METHOD_NOT_FOUND, "Method not found")
	case ep.era == "2025" && modern:
		return rpcError(http.StatusBadRequest, mcp.INVALID_REQUEST, "Bad Request: unsupported protocol version")
	case ep.era == "2026" && r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return true
	case ep.era == "2026" && m.Method == "initialize":
		return rpcError(http.StatusNotFound, mcp.METHOD_NOT_FOUND, "Method not found")
	case ep.era == "2026" && !modern:
		return rpcError(http.StatusBadRequest, mcp.INVALID_REQUEST, "Bad Request: a 2026-07-28 request needs _meta")
	}
	return false
}

// record notes the token and the JSON-RPC message, and returns
// "method [tool]".
func (ep *endpoint) record(tok *bearer.Token, body []byte) string {
	var m struct {
		Method string `json:"method"`
		Params struct {
			Name      string          `json:"name"`
			RequestID json.RawMessage `json:"requestId"`
		} `json:"params"`
	}
	_ = json.Unmarshal(body, &m)
	rpc := strings.TrimSpace(m.Method + " " + m.Params.Name)
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.tokens = append(ep.tokens, tok)
	if m.Method != "" {
		ep.rpcs = append(ep.rpcs, rpc)
	}
	if m.Method == "notifications/cancelled" {
		ep.cancel <- string(m.Params.RequestID)
	}
	return rpc
}

// cutNext arms a cut of the event stream of the next POST for rpc, after
// its first event: the connection is closed, as a network drop would.
func (ep *endpoint) cutNext(rpc string) chan struct{} {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.cutRPC, ep.cut = rpc, make(chan struct{})
	return ep.cut
}

// streamCutter records the connection of a GET stream, and wraps the
// writer of a POST whose stream is to be cut.
func (ep *endpoint) streamCutter(ctx context.Context, w http.ResponseWriter, r *http.Request, rpc string) (http.ResponseWriter, context.Context) {
	conn, _ := r.Context().Value(connKey{}).(net.Conn)
	ep.mu.Lock()
	defer ep.mu.Unlock()
	switch {
	case r.Method == http.MethodGet:
		ep.gets = append(ep.gets, conn)
	case r.Method == http.MethodPost && rpc != "" && rpc == ep.cutRPC:
		ep.cutRPC = ""
		return &cutWriter{ResponseWriter: w, conn: conn, done: ep.cut}, context.WithValue(ctx, cutKey{}, ep.cut)
	}
	return w, ctx
}

func (ep *endpoint) refusesGET() bool {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.noGET
}

// dropGETs closes the connections of the GET streams.
func (ep *endpoint) dropGETs() int {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	for _, c := range ep.gets {
		c.Close()
	}
	n := len(ep.gets)
	ep.gets = nil
	return n
}

// getsWithLastEventID counts the GETs that resumed a stream.
func (ep *endpoint) getsWithLastEventID() int {
	return ep.countHeaders(func(h http.Header) bool { return h.Get("Last-Event-ID") != "" })
}

// headers returns the headers of every request so far.
func (ep *endpoint) headers() []http.Header {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return slices.Clone(ep.hdrs)
}

// countHeaders counts the requests whose headers match.
func (ep *endpoint) countHeaders(match func(http.Header) bool) int {
	n := 0
	for _, h := range ep.headers() {
		if match(h) {
			n++
		}
	}
	return n
}

// loggedKey holds a channel closed once a log notification is written.
type loggedKey struct{}

// logWriter closes logged once a notifications/message event is flushed.
type logWriter struct {
	http.ResponseWriter
	logged     chan struct{}
	mu         sync.Mutex
	seen, done bool
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.seen = l.seen || bytes.Contains(p, []byte("notifications/message"))
	l.mu.Unlock()
	return l.ResponseWriter.Write(p)
}

func (l *logWriter) Flush() {
	l.ResponseWriter.(http.Flusher).Flush()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen && !l.done {
		l.done = true
		close(l.logged)
	}
}

// cutWriter closes the connection once a whole event has been flushed.
type cutWriter struct {
	http.ResponseWriter
	conn net.Conn
	done chan struct{}
	mu   sync.Mutex
	sent bool // a whole event has been written
	cut  bool
}

func (c *cutWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return 0, net.ErrClosed
	}
	c.sent = c.sent || bytes.Contains(p, []byte("\n\n"))
	return c.ResponseWriter.Write(p)
}

func (c *cutWriter) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return
	}
	c.ResponseWriter.(http.Flusher).Flush()
	if c.sent {
		c.cut = true
		c.conn.Close()
		close(c.done)
	}
}

// forget makes the server forget every session it has handed out: the
// next request on one gets 404.
func (ep *endpoint) forget() {
	for _, h := range ep.headers() {
		if id := h.Get("Mcp-Session-Id"); id != "" {
			ep.mu.Lock()
			ep.gone[id] = true
			ep.mu.Unlock()
		}
	}
}

// seenTokens returns the tokens the server has validated so far.
func (ep *endpoint) seenTokens() []*bearer.Token {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return append([]*bearer.Token(nil), ep.tokens...)
}

func (ep *endpoint) count(rpc string) int {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	n := 0
	for _, r := range ep.rpcs {
		if r == rpc {
			n++
		}
	}
	return n
}

// proxyEnv is a relay configured for one MCP endpoint, discovering the
// authorization server from the endpoint's 401.
func proxyEnv(t *testing.T, mc *mcpChain, path string) *relayEnv {
	return newRelayEnv(t, mc.Server).forMCP(mc.eps[path].url)
}

// forMCP configures e for the MCP server at url (RELAY_MCP_URL), which
// names its authorization server in its 401.
func (e *relayEnv) forMCP(url string) *relayEnv {
	delete(e.Vars, "RELAY_BACKEND_URL")
	delete(e.Vars, "RELAY_AUTH_SERVER_URL")
	e.resource, e.Vars["RELAY_MCP_URL"] = url, url
	return e
}

// mcpEnv starts a chain with one MCP server at /mcp that speaks only era
// ("2025" or "2026"; "": both), and a relay configured for it.
func mcpEnv(t *testing.T, era string) (*mcpChain, *endpoint, *relayEnv) {
	t.Helper()
	mc := newMCPChain(t, era, "/mcp")
	return mc, mc.eps["/mcp"], proxyEnv(t, mc, "/mcp")
}
