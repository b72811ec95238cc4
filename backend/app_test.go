package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyrelay/keyrelay/backend/authserver"
	"github.com/keyrelay/keyrelay/internal/fakebrowser"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

type running struct {
	url  string
	logs *testkit.Buffer
	stop func() error
}

// start runs the backend with args and env, as `go run ./backend` would.
func start(t *testing.T, args []string, envm map[string]string) *running {
	t.Helper()
	return startAt(t, testkit.FreeAddr(t), args, envm)
}

func startAt(t *testing.T, addr string, args []string, envm map[string]string) *running {
	t.Helper()
	r := &running{url: "http://" + addr, logs: &testkit.Buffer{}}
	r.stop = runBackend(t, addr, args, envm, r.logs)
	return r
}

// runBackend starts the backend as main does, on addr, logging to logs,
// and returns a function that stops it gracefully and returns run's error.
func runBackend(t *testing.T, addr string, args []string, envm map[string]string, logs io.Writer) func() error {
	t.Helper()
	if envm == nil {
		envm = map[string]string{}
	}
	envm["BACKEND_ADDR"] = addr
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan []string, 1)
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, args, env(envm), logs, ready) }()
	select {
	case <-ready:
	case err := <-errc:
		cancel()
		t.Fatalf("backend did not start: %v\n%v", err, logs)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("backend start timed out")
	}
	stop := sync.OnceValue(func() error { cancel(); return <-errc })
	t.Cleanup(func() { _ = stop() })
	return stop
}

func callTool(t *testing.T, base, name, args, token string) (int, http.Header, string) {
	t.Helper()
	resp, body := testkit.PostTool(t, base, name, args, token)
	return resp.StatusCode, resp.Header, body
}

// login runs a full authorization-code + PKCE login with x/oauth2 against
// the built-in server, driving the pages over HTTP, and returns the token.
func login(t *testing.T, issuer, resource, user, pw string, scopes ...string) *oauth2.Token {
	t.Helper()
	cb := make(chan url.Values, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	testkit.NoErr(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cb <- r.URL.Query()
		_, _ = io.WriteString(w, "ok")
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	conf := &oauth2.Config{ClientID: "relay", Scopes: scopes, RedirectURL: "http://" + ln.Addr().String() + "/callback",
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/authorize", TokenURL: issuer + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	u := conf.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", resource))
	res, err := fakebrowser.Login(context.Background(), u, fakebrowser.Options{User: user, Password: pw})
	if err != nil || res.CallbackStatus != 200 {
		t.Fatalf("login: %v %+v", err, res)
	}
	q := <-cb
	if q.Get("state") != "state-1" || q.Get("iss") != issuer {
		t.Fatalf("callback: %v", q)
	}
	tok, err := conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", resource))
	testkit.NoErr(t, err)
	return tok
}

func TestBackendWithAuthServerEndToEnd(t *testing.T) {
	b := start(t, []string{"--auth-server", "--user", "alice:correct-horse"}, nil)
	resp, err := http.Get(b.url + "/mcp/tools")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("list: %v", err)
	}
	var list struct{ Tools []struct{ Name string } }
	_ = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list.Tools) != 5 {
		t.Fatalf("tools: %+v", list)
	}
	st, h, _ := callTool(t, b.url, "whoami", `{}`, "")
	if st != 401 || h.Get("WWW-Authenticate") != `Bearer error_description="authentication required", resource_metadata="`+b.url+`/.well-known/oauth-protected-resource"` {
		t.Fatalf("whoami without token: %d %q", st, h.Get("WWW-Authenticate"))
	}
	tok := login(t, b.url, b.url, "alice", "correct-horse")
	st, _, body := callTool(t, b.url, "whoami", `{}`, tok.AccessToken)
	if st != 200 || !strings.Contains(body, `\"subject\": \"alice\"`) {
		t.Fatalf("whoami: %d %s", st, body)
	}
	// Step-up: admin is not granted by default; a login asking for it is.
	if st, h, _ := callTool(t, b.url, "admin_stats", `{}`, tok.AccessToken); st != 403 || !strings.Contains(h.Get("WWW-Authenticate"), `scope="admin"`) {
		t.Fatalf("admin_stats: %d", st)
	}
	admin := login(t, b.url, b.url, "alice", "correct-horse", "notes:read", "admin")
	if st, _, body := callTool(t, b.url, "admin_stats", `{}`, admin.AccessToken); st != 200 {
		t.Fatalf("admin_stats after step-up: %d %s", st, body)
	}
	if r, err := http.Get(b.url + "/healthz"); err != nil || r.StatusCode != 200 {
		t.Fatalf("healthz: %v", err)
	}
	testkit.NoErr(t, b.stop(), "graceful stop")
	if _, err := http.Get(b.url + "/healthz"); err == nil {
		t.Fatal("still serving after stop")
	}
	if strings.Contains(b.logs.String(), tok.AccessToken) || strings.Contains(b.logs.String(), "correct-horse") {
		t.Fatal("a token or password reached the log")
	}
}

func TestDemoUserPasswordPrintedOnce(t *testing.T) {
	b := start(t, []string{"--auth-server"}, nil)
	out := b.logs.String()
	i := strings.Index(out, `created user "demo" with password `)
	if i < 0 {
		t.Fatalf("no demo user line: %s", out)
	}
	pw := strings.Fields(out[i+len(`created user "demo" with password `):])[0]
	if strings.Count(out, pw) != 1 {
		t.Fatal("password printed more than once")
	}
	tok := login(t, b.url, b.url, "demo", pw)
	if st, _, _ := callTool(t, b.url, "whoami", `{}`, tok.AccessToken); st != 200 {
		t.Fatalf("demo user's token refused: %d", st)
	}
}

func TestHS256Mode(t *testing.T) {
	b := start(t, []string{"--auth-server", "--user", "alice:pw-123456"}, map[string]string{"JWT_SECRET": goodSecret})
	tok := login(t, b.url, b.url, "alice", "pw-123456")
	if hdr := testkit.PeekJWT(t, tok.AccessToken, 0); hdr["alg"] != "HS256" {
		t.Fatalf("not HS256: %v", hdr)
	}
	if st, _, body := callTool(t, b.url, "whoami", `{}`, tok.AccessToken); st != 200 {
		t.Fatalf("whoami: %d %s", st, body)
	}
}

// TestJWKSModeAgainstSeparateIssuer runs the authorization server on its
// own (as an identity provider would be) and a backend that knows only
// AUTH_SERVER_URL: it discovers the JWKS over HTTP and validates ES256
// tokens with it.
func TestJWKSModeAgainstSeparateIssuer(t *testing.T) {
	apiAddr := testkit.FreeAddr(t)
	apiURL := "http://" + apiAddr
	idpSrv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + idpSrv.Listener.Addr().String()
	u, err := authserver.NewUser("alice", "pw-123456")
	testkit.NoErr(t, err)
	as, err := authserver.New(authserver.Config{Issuer: issuer, Resources: []string{apiURL, issuer}, Users: []authserver.User{u}})
	testkit.NoErr(t, err)
	idpSrv.Config.Handler = as.Handler()
	idpSrv.Start()
	defer idpSrv.Close()

	api := startAt(t, apiAddr, nil, map[string]string{"AUTH_SERVER_URL": issuer})
	if !strings.Contains(api.logs.String(), "using JWKS") {
		t.Fatalf("api did not discover the JWKS: %s", api.logs.String())
	}
	tok := login(t, issuer, apiURL, "alice", "pw-123456")
	if st, _, body := callTool(t, api.url, "whoami", `{}`, tok.AccessToken); st != 200 || !strings.Contains(body, "alice") {
		t.Fatalf("whoami with a JWKS-validated token: %d %s", st, body)
	}
	// A token for another resource of the same issuer is refused.
	other := login(t, issuer, issuer, "alice", "pw-123456")
	if st, h, _ := callTool(t, api.url, "whoami", `{}`, other.AccessToken); st != 401 || !strings.Contains(h.Get("WWW-Authenticate"), "wrong audience") {
		t.Fatalf("token for another audience: %d %q", st, h.Get("WWW-Authenticate"))
	}
}
