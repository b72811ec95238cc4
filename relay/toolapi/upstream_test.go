package toolapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyrelay/keyrelay/backend/bearer"
	"github.com/keyrelay/keyrelay/backend/example"
	"github.com/keyrelay/keyrelay/backend/tool"
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

var testSecret = []byte("test-secret-0123456789-abcdefghijklmnop")

// realBackend runs the project's example backend on loopback.
func realBackend(t *testing.T) (*httptest.Server, func(scope string) secret.Value) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	url := "http://" + srv.Listener.Addr().String()
	v, err := bearer.NewHMAC(bearer.Config{Issuer: "http://issuer.test", Audience: url}, testSecret)
	testkit.NoErr(t, err)
	ts := tool.NewServer(tool.Config{PublicURL: url, Validator: v})
	testkit.NoErr(t, example.Register(ts, example.NewMemoryStore(), nil))
	srv.Config.Handler = ts.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	mint := func(scope string) secret.Value {
		return secret.New(testkit.SignJWT(t, jwt.SigningMethodHS256, testSecret, "JWT", jwt.MapClaims{"iss": "http://issuer.test", "aud": url, "sub": "alice",
			"exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix(), "scope": scope}))
	}
	return srv, mint
}

// tokens is a Tokens that mints tokens with the scopes asked for so far:
// Token mints with scope, StepUp adds the required scopes. It counts
// sign-ins (Token without a cached one) and step-ups.
type tokens struct {
	mint           func(scope string) secret.Value
	scope          string
	calls, stepUps int
}

func (f *tokens) Token(context.Context, broker.UI) (secret.Value, error) {
	f.calls++
	return f.mint(f.scope), nil
}
func (f *tokens) Unauthorized(context.Context, secret.Value, broker.UI) (secret.Value, error) {
	return f.mint(f.scope), nil
}
func (f *tokens) StepUp(_ context.Context, _ secret.Value, req []string, _ broker.UI) (secret.Value, error) {
	f.stepUps++
	f.scope = strings.Join(append(strings.Fields(f.scope), req...), " ")
	return f.mint(f.scope), nil
}
func (f *tokens) NotGranted([]string)                               {}
func (f *tokens) CachedToken(context.Context) (secret.Value, error) { return secret.Value{}, nil }

// client is a Client of url over the auth layer with f.
func client(url string, timeout time.Duration, f authhttp.Tokens) *Client {
	return NewClient(url, timeout, &authhttp.Transport{Base: BaseTransport(timeout), Tokens: f, Peer: "backend"})
}

func TestAgainstRealBackend(t *testing.T) {
	srv, mint := realBackend(t)
	f := &tokens{mint: mint, scope: "notes:read"}
	c := client(srv.URL, 5*time.Second, f)
	ctx := context.Background()
	tools, err := c.ListTools(ctx)
	if err != nil || len(tools) != 5 {
		t.Fatalf("list: %v %d", err, len(tools))
	}
	if tools[1].Name != "whoami" || !tools[1].Meta.RequiresAuth || tools[3].Meta.Scopes[0] != "notes:write" {
		t.Fatalf("meta not carried: %+v", tools)
	}
	res, err := c.CallTool(ctx, "echo", json.RawMessage(`{"message":"hi"}`), false)
	if err != nil || res.IsError || !strings.Contains(string(res.Content[0]), `"hi"`) || f.calls != 0 {
		t.Fatalf("echo (no sign-in): %v %+v, %d sign-ins", err, res, f.calls)
	}
	res, err = c.CallTool(ctx, "whoami", nil, true)
	if err != nil || !strings.Contains(string(res.Content[0]), "alice") || f.calls != 1 {
		t.Fatalf("whoami: %v, %d sign-ins", err, f.calls)
	}
	res, err = c.CallTool(ctx, "admin_stats", nil, true)
	if err != nil || res.IsError || f.stepUps != 1 || f.scope != "notes:read admin" {
		t.Fatalf("admin_stats: %v %+v; %d step-ups, scope %q", err, res, f.stepUps, f.scope)
	}
	_, err = c.CallTool(ctx, "echo", json.RawMessage(`{}`), false)
	var be *BackendError
	if !errors.As(err, &be) || be.Status != 400 || !strings.Contains(be.Reason, "message") {
		t.Fatalf("bad arguments: %v", err)
	}
	// A tool listed as needing no sign-in that the backend refuses without
	// a token: one sign-in on its 401.
	f.calls = 0
	if res, err = c.CallTool(ctx, "whoami", nil, false); err != nil || f.calls != 1 || !strings.Contains(string(res.Content[0]), "alice") {
		t.Fatalf("whoami as if public: %v, %d sign-ins", err, f.calls)
	}
}

// The tool list never carries a token, and a list refused is an AuthError.
func TestListIsPublic(t *testing.T) {
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(401)
	}))
	defer srv.Close()
	f := &tokens{mint: func(string) secret.Value { return secret.New("fake-token-0123") }}
	_, err := client(srv.URL, 5*time.Second, f).ListTools(context.Background())
	var ae *authhttp.AuthError
	if !errors.As(err, &ae) || ae.Status != 401 || auth != "" || f.calls != 0 {
		t.Fatalf("err %v, Authorization %q, %d sign-ins", err, auth, f.calls)
	}
}

func TestBackendFailuresAreCleanErrors(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/mcp/tools/5xx":
			http.Error(w, "<html>oops "+r.Header.Get("Authorization")+"</html>", http.StatusBadGateway)
		case "/mcp/tools/4xx":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_request","error_description":"bad token ` + strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") + `"}`))
		case "/mcp/tools/hang":
			select {
			case <-block:
			case <-r.Context().Done():
			}
		case "/mcp/tools/stall":
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			select {
			case <-block:
			case <-r.Context().Done():
			}
		case "/mcp/tools/garbage":
			_, _ = w.Write([]byte("{not json"))
		case "/mcp/tools/huge":
			_, _ = w.Write([]byte(`{"content":["` + strings.Repeat("x", 5<<20) + `"]}`))
		case "/mcp/tools/nocontent":
			_, _ = w.Write([]byte(`{"isError":false}`))
		case "/mcp/tools/redirect":
			http.Redirect(w, r, "http://127.0.0.2:9/steal", http.StatusTemporaryRedirect)
		}
	}))
	defer srv.Close()
	defer close(block) // before srv.Close, which waits for handlers
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	tok := secret.New("fake-token-must-not-leak")
	cases := map[string]struct {
		url, tool, want string
	}{
		"5xx":       {srv.URL, "5xx", "answered 502"},
		"4xx":       {srv.URL, "4xx", "the backend refused the call (400): bad token REDACTED"},
		"hang":      {srv.URL, "hang", "did not answer in time"},
		"stall":     {srv.URL, "stall", "did not answer in time"},
		"garbage":   {srv.URL, "garbage", "not valid JSON"},
		"huge":      {srv.URL, "huge", "over"},
		"nocontent": {srv.URL, "nocontent", "without content"},
		"redirect":  {srv.URL, "redirect", "answered 307"},
		"refused":   {deadURL, "x", "unreachable"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			timeout := 10 * time.Second
			if name == "hang" || name == "stall" {
				timeout = 300 * time.Millisecond
			}
			cl := client(c.url, timeout, &tokens{mint: func(string) secret.Value { return tok }})
			_, err := cl.CallTool(context.Background(), c.tool, nil, true)
			var be *BackendError
			if !errors.As(err, &be) || !errors.Is(err, ErrBackend) || !strings.Contains(be.Reason, c.want) {
				t.Fatalf("got %v, want a BackendError with %q", err, c.want)
			}
			if strings.Contains(err.Error(), tok.Reveal()) || strings.Contains(err.Error(), "<html>") {
				t.Fatalf("error leaks: %v", err)
			}
		})
	}
}
