package forward

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
)

var testSecret = []byte("test-secret-0123456789-abcdefghijklmnop")

// realBackend runs the project's example backend on loopback.
func realBackend(t *testing.T) (*httptest.Server, func(scope string) secret.Value) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	url := "http://" + srv.Listener.Addr().String()
	v, err := bearer.NewHMAC(bearer.Config{Issuer: "http://issuer.test", Audience: url}, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	ts := tool.NewServer(tool.Config{PublicURL: url, Validator: v})
	if err := example.Register(ts, example.NewMemoryStore(), nil); err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = ts.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	mint := func(scope string) secret.Value {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "http://issuer.test", "aud": url, "sub": "alice",
			"exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix(), "scope": scope}).SignedString(testSecret)
		if err != nil {
			t.Fatal(err)
		}
		return secret.New(s)
	}
	return srv, mint
}

func TestAgainstRealBackend(t *testing.T) {
	srv, mint := realBackend(t)
	c := New(srv.URL, 5*time.Second)
	ctx := context.Background()
	tools, err := c.ListTools(ctx, secret.Value{})
	if err != nil || len(tools) != 5 {
		t.Fatalf("list: %v %d", err, len(tools))
	}
	if tools[1].Name != "whoami" || !tools[1].Meta.RequiresAuth || tools[3].Meta.Scopes[0] != "notes:write" {
		t.Fatalf("meta not carried: %+v", tools)
	}
	res, err := c.CallTool(ctx, "echo", json.RawMessage(`{"message":"hi"}`), secret.Value{})
	if err != nil || res.IsError || !strings.Contains(string(res.Content[0]), `"hi"`) {
		t.Fatalf("echo: %v %+v", err, res)
	}
	_, err = c.CallTool(ctx, "whoami", nil, secret.Value{})
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Status != 401 || !strings.HasSuffix(ae.Challenge.ResourceMetadata, "/.well-known/oauth-protected-resource") {
		t.Fatalf("whoami without token: %v", err)
	}
	_, err = c.CallTool(ctx, "admin_stats", nil, mint("notes:read"))
	if !errors.As(err, &ae) || !ae.InsufficientScope() || ae.Challenge.Scope[0] != "admin" {
		t.Fatalf("admin_stats: %v", err)
	}
	res, err = c.CallTool(ctx, "whoami", nil, mint("notes:read"))
	if err != nil || !strings.Contains(string(res.Content[0]), "alice") {
		t.Fatalf("whoami: %v", err)
	}
	_, err = c.CallTool(ctx, "echo", json.RawMessage(`{}`), secret.Value{})
	var be *BackendError
	if !errors.As(err, &be) || be.Status != 400 || !strings.Contains(be.Reason, "message") {
		t.Fatalf("bad arguments: %v", err)
	}
}

func TestBackendFailuresAreCleanErrors(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/mcp/tools/5xx":
			http.Error(w, "<html>oops "+r.Header.Get("Authorization")+"</html>", http.StatusBadGateway)
		case "/mcp/tools/hang":
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
		"hang":      {srv.URL, "hang", "did not answer in time"},
		"garbage":   {srv.URL, "garbage", "not valid JSON"},
		"huge":      {srv.URL, "huge", "over"},
		"nocontent": {srv.URL, "nocontent", "without content"},
		"redirect":  {srv.URL, "redirect", "answered 307"},
		"refused":   {deadURL, "x", "unreachable"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			timeout := 10 * time.Second
			if name == "hang" {
				timeout = 300 * time.Millisecond
			}
			cl := New(c.url, timeout)
			_, err := cl.CallTool(context.Background(), c.tool, nil, tok)
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
