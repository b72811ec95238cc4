package toolapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/authhttp"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/front"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/vault"
)

// fakeClient is a front.Client that records what is sent to it.
type fakeClient struct {
	mu     sync.Mutex
	modern bool
	sent   []*front.Message
	logs   []string
}

func (c *fakeClient) Send(m *front.Message) { c.mu.Lock(); c.sent = append(c.sent, m); c.mu.Unlock() }
func (c *fakeClient) Notify(_ context.Context, method string, p map[string]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.logs = append(c.logs, fmt.Sprint(p["data"]))
}
func (c *fakeClient) Ask(context.Context, string, json.RawMessage) (*front.Message, error) {
	return nil, io.EOF
}
func (c *fakeClient) State() front.ClientState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return front.ClientState{Modern: c.modern}
}
func (c *fakeClient) methods() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.sent {
		out = append(out, m.Method)
	}
	return out
}

// fakeBackend lists tools (echo, and bad, whose schema breaks the
// x-mcp-header rules) while up, and echoes a call's arguments.
type fakeBackend struct {
	*httptest.Server
	mu   sync.Mutex
	down bool
	list string
}

func newFakeBackend(t *testing.T) *fakeBackend {
	b := &fakeBackend{list: `{"tools":[{"name":"echo","inputSchema":{"type":"object"}},` +
		`{"name":"bad","inputSchema":{"type":"object","properties":{"a":{"type":"object","x-mcp-header":"A"}}}}]}`}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		down, list := b.down, b.list
		b.mu.Unlock()
		switch {
		case down:
			http.Error(w, "down", http.StatusBadGateway)
		case r.URL.Path == "/mcp/tools":
			_, _ = io.WriteString(w, list)
		case r.URL.Path == "/mcp/tools/echo":
			var body struct{ Arguments json.RawMessage }
			_ = json.NewDecoder(r.Body).Decode(&body)
			_ = json.NewEncoder(w).Encode(map[string]any{"content": []any{map[string]any{"type": "text", "text": string(body.Arguments)}}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *fakeBackend) set(down bool, list string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.down = down
	if list != "" {
		b.list = list
	}
}

func call(t *testing.T, u *Upstream, method, params string) string {
	t.Helper()
	resp, err := u.Request(context.Background(), &front.Call{ID: json.RawMessage(`1`), Method: method, Params: json.RawMessage(params)})
	if err != nil {
		return "error: " + front.Text(err)
	}
	b, _ := json.Marshal(resp)
	return string(b)
}

func TestToolsAndCalls(t *testing.T) {
	b := newFakeBackend(t)
	c := &fakeClient{}
	u := New(Config{BackendURL: b.URL}, c)
	got := call(t, u, "tools/list", `{}`)
	if !strings.Contains(got, `"name":"echo"`) || strings.Contains(got, `"name":"bad"`) {
		t.Fatalf("tools/list (a tool whose annotations break the rules is left out): %s", got)
	}
	for _, tc := range []struct{ params, want string }{
		{`{"name":"echo","arguments":{"n":12345678901234567890}}`, `{\"n\":12345678901234567890}`},
		{`{"name":"echo"}`, `"text":"{}"`},
		{`{"name":"echo","arguments":[1]}`, `"isError":true`},
		{`{"name":"missing"}`, `"error":{"code":-32602,"message":"tool 'missing' not found: tool not found"}`},
		{`{"name":5}`, `"code":-32602`},
	} {
		testkit.Contains(t, "tools/call", call(t, u, "tools/call", tc.params), tc.want)
	}
	if m := c.methods(); len(m) != 1 || m[0] != "notifications/tools/list_changed" {
		t.Fatalf("notifications %v: one list_changed, for the first list", m)
	}
}

// The other MCP methods: not supported, or removed in 2026-07-28.
func TestUnsupported(t *testing.T) {
	u := New(Config{BackendURL: "http://127.0.0.1:9"}, &fakeClient{})
	for _, tc := range []struct {
		method string
		modern bool
		want   string
	}{
		{"resources/list", false, `"code":-32601,"message":"resources not supported"`},
		{"resources/subscribe", true, `was removed in protocol version 2026-07-28`},
		{"prompts/get", false, `"message":"prompts not supported"`},
		{"no/such", false, `"message":"Method no/such not found"`},
		{"logging/setLevel", false, `"result":{}`},
	} {
		resp, err := u.Request(context.Background(), &front.Call{ID: json.RawMessage(`1`), Method: tc.method, Era: front.Era{Modern: tc.modern}})
		b, _ := json.Marshal(resp)
		if err != nil || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %s %v, want %s", tc.method, b, err, tc.want)
		}
	}
}

// While the backend cannot list its tools, a call says why, and its name
// is listed as a placeholder until the backend lists again; a client
// calling made-up names adds at most maxPlaceholders.
func TestPlaceholders(t *testing.T) {
	b := newFakeBackend(t)
	b.set(true, "")
	c := &fakeClient{}
	u := New(Config{BackendURL: b.URL}, c)
	if got := call(t, u, "tools/call", `{"name":"echo"}`); got != "error: keyrelay cannot list the backend's tools: the backend answered 502" {
		t.Fatalf("backend down: %s", got)
	}
	testkit.Contains(t, "placeholder", call(t, u, "tools/list", `{}`), `"name":"echo"`, "cannot reach or use the backend")
	for i := range maxPlaceholders + 10 {
		call(t, u, "tools/call", fmt.Sprintf(`{"name":"made-up-%d"}`, i))
	}
	call(t, u, "tools/call", `{"name":"`+strings.Repeat("x", 129)+`"}`)
	var list struct{ Tools []toolDef }
	resp, _ := u.Request(context.Background(), &front.Call{ID: json.RawMessage(`1`), Method: "tools/list", Params: json.RawMessage(`{}`)})
	if err := json.Unmarshal(resp.Result, &list); err != nil || len(list.Tools) != maxPlaceholders {
		t.Fatalf("%d tools listed, want %d: %v", len(list.Tools), maxPlaceholders, err)
	}
	b.set(false, "")
	testkit.Contains(t, "the backend is back", call(t, u, "tools/call", `{"name":"echo","arguments":{"a":1}}`), `{\"a\":1}`)
	if got := call(t, u, "tools/list", `{}`); strings.Contains(got, "made-up") {
		t.Fatalf("placeholders after a good list: %s", got)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.logs) == 0 || !strings.Contains(c.logs[0], "keyrelay could not list the backend's tools") {
		t.Fatalf("log messages %q", c.logs)
	}
}

// list_changed reaches a 2025-era client at once, a 2026-07-28 client only
// on an open subscriptions/listen, tagged with its id.
func TestListChanged(t *testing.T) {
	b := newFakeBackend(t)
	c := &fakeClient{modern: true}
	u := New(Config{BackendURL: b.URL}, c)
	call(t, u, "tools/list", `{}`)
	if m := c.methods(); len(m) != 0 {
		t.Fatalf("a 2026-07-28 client without a listen got %v", m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := u.Request(ctx, &front.Call{ID: json.RawMessage(`"L"`), Method: mcp.MethodSubscriptionsListen,
			Params: json.RawMessage(`{"notifications":{"toolsListChanged":true,"promptsListChanged":true}}`), Era: front.Era{Modern: true}})
		done <- err
	}()
	testkit.Poll(t, 10*time.Second, "the listen's acknowledgement", func() bool { return len(c.methods()) > 0 })
	c.mu.Lock()
	ack, _ := json.Marshal(c.sent[0])
	c.mu.Unlock()
	testkit.Contains(t, "acknowledgement (tools only)", string(ack), `"notifications":{"toolsListChanged":true}`, `"io.modelcontextprotocol/subscriptionId":"L"`)
	b.set(false, `{"tools":[{"name":"new","inputSchema":{"type":"object"}}]}`)
	call(t, u, "tools/call", `{"name":"new"}`) // unknown: lists again, and the list changed
	c.mu.Lock()
	got, _ := json.Marshal(c.sent[len(c.sent)-1])
	c.mu.Unlock()
	testkit.Contains(t, "list_changed on the listen", string(got), `"method":"notifications/tools/list_changed"`, `"io.modelcontextprotocol/subscriptionId":"L"`)
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the listen ended without its context's error")
	}
}

func TestContentBlocks(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"text":"a<b","type":"text","extra":1}`, `{"type":"text","text":"a\u003cb"}`},
		{`{"type":"text","text":"x","annotations":{"priority":0.5,"audience":["user"]},"_meta":{}}`, `{"annotations":{"audience":["user"],"priority":0.5},"_meta":{},"type":"text","text":"x"}`},
		{`{"type":"image","data":"AA==","mimeType":"image/png"}`, `{"type":"image","data":"AA==","mimeType":"image/png"}`},
		{`{"type":"nope"}`, ""},
		{`{"type":5}`, ""},
		{`{"type":"text","text":5}`, ""},
		{`[1]`, ""},
	} {
		got, err := content(json.RawMessage(c.in))
		switch {
		case c.want == "" && err == nil:
			t.Errorf("content(%s) = %s, want an error", c.in, got)
		case c.want != "" && (err != nil || string(got) != c.want):
			t.Errorf("content(%s) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
}

// mintingAuth is a broker.Auth whose sign-ins mint backend tokens for the
// scopes asked, or for the authorization server's defaults (notes:read
// notes:write, as the built-in server grants a registered client) when
// none is asked; it records what each sign-in asked for.
type mintingAuth struct {
	mint  func(scope string) secret.Value
	mu    sync.Mutex
	asked []string
}

func (a *mintingAuth) Login(_ context.Context, scopes []string, _ broker.UI) (*oauth.Tokens, error) {
	a.mu.Lock()
	a.asked = append(a.asked, strings.Join(scopes, " "))
	a.mu.Unlock()
	if len(scopes) == 0 {
		scopes = []string{"notes:read", "notes:write"}
	}
	return &oauth.Tokens{AccessToken: a.mint(strings.Join(scopes, " ")), TokenType: "Bearer", Scopes: scopes,
		Expiry: time.Now().Add(time.Minute)}, nil
}

func (a *mintingAuth) Refresh(context.Context, secret.Value) (*oauth.Tokens, error) {
	return nil, oauth.ErrInvalidGrant
}

// backendMode is the backend's tool API client over the auth layer and a
// real broker on a real vault, as serve wires them.
func backendMode(t *testing.T, url string, a *mintingAuth) *Client {
	v, err := vault.Open(context.Background(), vault.Options{Dir: filepath.Join(t.TempDir(), "data"), Keychain: vault.NewMemKeychain()})
	testkit.NoErr(t, err)
	b := &broker.Broker{Account: vault.Account{Issuer: "http://issuer.test", ClientID: "relay", Resource: url}, Store: v, Auth: a}
	return NewClient(url, 5*time.Second, &authhttp.Transport{Base: BaseTransport(5 * time.Second), Tokens: b,
		Resolved: func() bool { return true }, Peer: "backend"})
}

// TestBackendChallengeScope: in backend mode a sign-in asks for the scope
// of the backend's 401, as for an MCP server. The project's backend names
// none: the first sign-in asks for nothing, so the authorization server
// grants its defaults (not admin), and admin comes by one step-up.
func TestBackendChallengeScope(t *testing.T) {
	srv, mint := realBackend(t)
	a := &mintingAuth{mint: mint}
	c := backendMode(t, srv.URL, a)
	ctx := context.Background()
	testkit.NoErr(t, testkit.ErrOf(c.CallTool(ctx, "whoami", nil, true)))
	testkit.NoErr(t, testkit.ErrOf(c.CallTool(ctx, "admin_stats", nil, true)))
	if got := strings.Join(a.asked, "; "); got != "; notes:read notes:write admin" {
		t.Fatalf("the sign-ins asked for %q, want nothing, then the step-up", got)
	}

	// A backend whose 401 names the scope.
	scoped := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `Bearer scope="notes:read", resource_metadata="`+srv.URL+`/.well-known/oauth-protected-resource"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		srv.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(scoped.Close)
	a = &mintingAuth{mint: mint}
	c = backendMode(t, scoped.URL, a)
	testkit.NoErr(t, testkit.ErrOf(c.CallTool(ctx, "read_notes", nil, true)))
	if got := strings.Join(a.asked, "; "); got != "notes:read" {
		t.Fatalf("the sign-in asked for %q, want the 401's notes:read", got)
	}
}
