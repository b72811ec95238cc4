package toolapi

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyrelay/keyrelay/backend/bearer"
	"github.com/keyrelay/keyrelay/backend/example"
	"github.com/keyrelay/keyrelay/backend/tool"
	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/authhttp"
	"github.com/keyrelay/keyrelay/relay/broker"
)

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
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "http://issuer.test", "aud": url, "sub": "alice",
			"exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix(), "scope": scope}).SignedString(testSecret)
		testkit.NoErr(t, err)
		return secret.New(s)
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
