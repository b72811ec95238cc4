package example

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyrelay/keyrelay/backend/bearer"
	"github.com/keyrelay/keyrelay/backend/tool"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

const (
	iss = "http://127.0.0.1:9999"
	aud = "http://127.0.0.1:5002"
)

var secret = []byte("test-secret-0123456789-abcdefghijklmnop")

func server(t *testing.T, store NoteStore) *httptest.Server {
	t.Helper()
	v, err := bearer.NewHMAC(bearer.Config{Issuer: iss, Audience: aud}, secret)
	testkit.NoErr(t, err)
	s := tool.NewServer(tool.Config{PublicURL: aud, AuthServers: []string{iss}, Validator: v})
	testkit.NoErr(t, Register(s, store, nil))
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func tok(t *testing.T, sub, scope string) string {
	t.Helper()
	now := time.Now()
	return testkit.SignJWT(t, jwt.SigningMethodHS256, secret, "JWT", jwt.MapClaims{"iss": iss, "aud": aud, "sub": sub,
		"exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "client_id": "relay", "scope": scope})
}

func call(t *testing.T, srv *httptest.Server, name, args, token string) (int, tool.Result, string) {
	t.Helper()
	resp, raw := testkit.PostTool(t, srv.URL, name, args, token)
	var r tool.Result
	_ = json.Unmarshal([]byte(raw), &r)
	return resp.StatusCode, r, raw
}

func text(r tool.Result) string {
	if len(r.Content) == 0 {
		return ""
	}
	return r.Content[0].Text
}

func TestEchoIsPublic(t *testing.T) {
	srv := server(t, NewMemoryStore())
	if st, r, raw := call(t, srv, "echo", `{"message":"hello"}`, ""); st != 200 || text(r) != "hello" {
		t.Fatalf("echo: %d %s", st, raw)
	}
	if st, _, raw := call(t, srv, "echo", `{}`, ""); st != 400 || !strings.Contains(raw, "message") {
		t.Fatalf("echo without message: %d %s", st, raw)
	}
}

func TestWhoami(t *testing.T) {
	srv := server(t, NewMemoryStore())
	if st, _, _ := call(t, srv, "whoami", `{}`, ""); st != 401 {
		t.Fatalf("whoami without token: %d", st)
	}
	st, r, raw := call(t, srv, "whoami", `{}`, tok(t, "alice", "notes:read"))
	var who map[string]any
	if st != 200 || json.Unmarshal([]byte(text(r)), &who) != nil {
		t.Fatalf("whoami: %d %s", st, raw)
	}
	for k, want := range map[string]string{"subject": "alice", "client_id": "relay", "issuer": iss} {
		if who[k] != want {
			t.Fatalf("whoami %s = %v, want %s", k, who[k], want)
		}
	}
	if _, err := time.Parse(time.RFC3339, who["expires"].(string)); err != nil || len(who["scopes"].([]any)) != 1 {
		t.Fatalf("whoami expiry or scopes wrong: %v", who)
	}
}

func TestNotesArePerSubjectAndScoped(t *testing.T) {
	srv := server(t, NewMemoryStore())
	rw := "notes:read notes:write"
	if st, _, _ := call(t, srv, "create_note", `{"text":"x"}`, tok(t, "alice", "notes:read")); st != 403 {
		t.Fatalf("create_note without notes:write: %d", st)
	}
	for _, n := range []string{"one", "two"} {
		if st, r, raw := call(t, srv, "create_note", `{"text":"`+n+`"}`, tok(t, "alice", rw)); st != 200 || r.IsError {
			t.Fatalf("create_note: %d %s", st, raw)
		}
	}
	_, r, _ := call(t, srv, "read_notes", `{}`, tok(t, "alice", rw))
	if !strings.Contains(text(r), `"count": 2`) || !strings.Contains(text(r), "two") {
		t.Fatalf("alice's notes: %s", text(r))
	}
	_, r, _ = call(t, srv, "read_notes", `{}`, tok(t, "bob", rw))
	if !strings.Contains(text(r), `"count": 0`) {
		t.Fatalf("bob sees alice's notes: %s", text(r))
	}
	if st, _, raw := call(t, srv, "create_note", `{"text":""}`, tok(t, "alice", rw)); st != 400 || !strings.Contains(raw, "text") {
		t.Fatalf("empty note: %d %s", st, raw)
	}
}

func TestAdminStatsNeedsAdmin(t *testing.T) {
	srv := server(t, NewMemoryStore())
	st, _, _ := call(t, srv, "admin_stats", `{}`, tok(t, "alice", "notes:read notes:write"))
	if st != 403 {
		t.Fatalf("admin_stats without admin: %d", st)
	}
	if st, r, raw := call(t, srv, "admin_stats", `{}`, tok(t, "alice", "admin")); st != 200 || !strings.Contains(text(r), "uptime_seconds") {
		t.Fatalf("admin_stats: %d %s", st, raw)
	}
}

func TestMemoryStoreLimits(t *testing.T) {
	m := &MemoryStore{PerSubject: 2, MaxSubjects: 1, notes: map[string][]Note{}}
	ctx := t.Context()
	for i := range 2 {
		if err := m.Add(ctx, "a", Note{}); err != nil {
			t.Fatalf("add %d under the limit: %v", i+1, err)
		}
	}
	if err := m.Add(ctx, "a", Note{}); err != ErrFull {
		t.Fatalf("per-subject limit: %v", err)
	}
	if err := m.Add(ctx, "b", Note{}); err != ErrFull {
		t.Fatalf("subject limit: %v", err)
	}
	srv := server(t, m)
	st, r, _ := call(t, srv, "create_note", `{"text":"x"}`, tok(t, "a", "notes:write"))
	if st != 200 || !r.IsError || !strings.Contains(text(r), "limit") {
		t.Fatalf("full store: %d %+v", st, r)
	}
}
