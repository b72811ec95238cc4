package tool

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyrelay/keyrelay/backend/bearer"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

const (
	iss = "http://127.0.0.1:9999"
	aud = "http://127.0.0.1:5002"
)

var secret = []byte("test-secret-0123456789-abcdefghijklmnop")

type fixture struct {
	srv  *httptest.Server
	logs *testkit.Buffer
}

func newFixture(t *testing.T, extra ...Tool) *fixture {
	t.Helper()
	v, err := bearer.NewHMAC(bearer.Config{Issuer: iss, Audience: aud}, secret)
	testkit.NoErr(t, err)
	return newFixtureWith(t, v, extra...)
}

// newFixtureWith is newFixture with another Validator.
func newFixtureWith(t *testing.T, v Validator, extra ...Tool) *fixture {
	t.Helper()
	return newFixtureDPoP(t, v, nil, extra...)
}

// newFixtureDPoP is newFixtureWith with DPoP settings d.
func newFixtureDPoP(t *testing.T, v Validator, d *bearer.DPoP, extra ...Tool) *fixture {
	t.Helper()
	logs := &testkit.Buffer{}
	s := NewServer(Config{PublicURL: aud + "/", AuthServers: []string{iss}, Validator: v, DPoP: d,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	tools := append([]Tool{
		{Name: "echo", InputSchema: json.RawMessage(`{"type":"object","properties":{"message":{"type":"string"}},"required":["message"]}`),
			Handler: func(_ context.Context, a map[string]any, u *User) (*Result, error) {
				if u != nil {
					return Text("user:" + u.Subject + ":" + a["message"].(string)), nil
				}
				return Text(a["message"].(string)), nil
			}},
		{Name: "whoami", RequiresAuth: true, InputSchema: json.RawMessage(`{"type":"object"}`),
			Handler: func(_ context.Context, _ map[string]any, u *User) (*Result, error) { return JSON(u) }},
		{Name: "write", Scopes: []string{"notes:write"}, InputSchema: json.RawMessage(`{"type":"object"}`),
			Handler: func(context.Context, map[string]any, *User) (*Result, error) { return Text("ok"), nil }},
		{Name: "fails", InputSchema: json.RawMessage(`{"type":"object"}`),
			Handler: func(context.Context, map[string]any, *User) (*Result, error) {
				return nil, errors.New("the database is unreachable")
			}},
		{Name: "panics", InputSchema: json.RawMessage(`{"type":"object"}`),
			Handler: func(context.Context, map[string]any, *User) (*Result, error) { panic("boom") }},
	}, extra...)
	for _, tl := range tools {
		testkit.NoErr(t, s.Register(tl))
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, logs: logs}
}

func token(t *testing.T, mut func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"iss": iss, "aud": aud, "sub": "alice", "exp": now.Add(time.Minute).Unix(),
		"iat": now.Unix(), "jti": "j1", "client_id": "relay", "scope": "notes:read"}
	if mut != nil {
		mut(c)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	testkit.NoErr(t, err)
	return s
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (f *fixture) do(t *testing.T, method, path, ctype, body string, auth ...string) response {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for _, a := range auth {
		if p, ok := strings.CutPrefix(a, "DPoP-Proof: "); ok {
			req.Header.Add("DPoP", p)
			continue
		}
		req.Header.Add("Authorization", a)
	}
	resp, err := http.DefaultClient.Do(req)
	testkit.NoErr(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (f *fixture) call(t *testing.T, name, body string, auth ...string) response {
	t.Helper()
	return f.do(t, "POST", "/mcp/tools/"+name, "application/json", body, auth...)
}

func wantChallenge(t *testing.T, r response, status int, errCode string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	ch := r.header.Get("WWW-Authenticate")
	if !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `resource_metadata="`+aud+`/.well-known/oauth-protected-resource"`) {
		t.Fatalf("bad challenge %q", ch)
	}
	if errCode != "" && !strings.Contains(ch, `error="`+errCode+`"`) {
		t.Fatalf("challenge %q lacks error=%q", ch, errCode)
	}
	if r.body["error"] == nil || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("body is not a JSON error: %s", r.raw)
	}
}
