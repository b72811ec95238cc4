package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/keyrelay/keyrelay/backend/authserver"
	"github.com/keyrelay/keyrelay/backend/bearer"
	"github.com/keyrelay/keyrelay/backend/example"
	"github.com/keyrelay/keyrelay/backend/tool"
	"github.com/keyrelay/keyrelay/vault"
)

// bins holds the relay and fakebrowser binaries built once per test run.
var bins struct {
	once           sync.Once
	relay, browser string
	err            error
}

func buildBins(t *testing.T) (relay, browser string) {
	t.Helper()
	bins.once.Do(func() {
		dir, err := os.MkdirTemp("", "keyrelay-e2e-bin")
		if err != nil {
			bins.err = err
			return
		}
		cmd := exec.Command("go", "build", "-o", dir+"/", ".", "../internal/fakebrowser/cmd/fakebrowser")
		if out, err := cmd.CombinedOutput(); err != nil {
			bins.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		bins.relay, bins.browser = filepath.Join(dir, "relay"), filepath.Join(dir, "fakebrowser")
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.relay, bins.browser
}

const (
	testUser = "alice"
	testPass = "alice-test-password"
)

// chain is the backend and authorization server on one loopback listener,
// instrumented: it counts token requests by grant type and remembers every
// code, verifier and token that crossed it, so tests can look for them in
// the relay's output.
type chain struct {
	url     string
	as      *authserver.Server
	codes   atomic.Int64
	refresh atomic.Int64
	mu      sync.Mutex
	secrets []string
	revoked map[string]bool // jti the backend now refuses
	seen    map[string]bool // jti validated so far
}

func (c *chain) remember(s ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range s {
		if len(v) >= 8 {
			c.secrets = append(c.secrets, v)
		}
	}
}

// revokeSeen makes the backend refuse every access token it has accepted
// so far (as if the issuer revoked them): the next call gets a 401.
func (c *chain) revokeSeen() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for j := range c.seen {
		c.revoked[j] = true
	}
}

// recordingValidator wraps the real validator with the chain's revocation.
type recordingValidator struct {
	c *chain
	v *bearer.Validator
}

func (r recordingValidator) Validate(ctx context.Context, raw string) (*bearer.Token, error) {
	tok, err := r.v.Validate(ctx, raw)
	if err != nil {
		return nil, err
	}
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	r.c.seen[tok.ID] = true
	if r.c.revoked[tok.ID] {
		return nil, &bearer.TokenError{Reason: "token revoked"}
	}
	return tok, nil
}

func newChain(t *testing.T, ttl time.Duration) *chain {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	u, err := authserver.NewUser(testUser, testPass)
	if err != nil {
		t.Fatal(err)
	}
	c := &chain{url: base, revoked: map[string]bool{}, seen: map[string]bool{}}
	c.as, err = authserver.New(authserver.Config{Issuer: base, Resources: []string{base}, Users: []authserver.User{u}, TokenTTL: ttl,
		Scopes: []string{example.ScopeNotesRead, example.ScopeNotesWrite, example.ScopeAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := bearer.NewStaticKeySet(bearer.Config{Issuer: base, Audience: base}, c.as.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	ts := tool.NewServer(tool.Config{PublicURL: base, AuthServers: []string{base}, Validator: recordingValidator{c, v}})
	if err := example.Register(ts, example.NewMemoryStore(), nil); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp/", ts.Handler())
	mux.Handle("/.well-known/oauth-protected-resource", ts.Handler())
	mux.Handle("/", c.spy(c.as.Handler()))
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return c
}

// spy counts token requests and records the secrets in them and in the
// answers.
func (c *chain) spy(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/token" && r.URL.Path != "/revoke" {
			h.ServeHTTP(w, r)
			return
		}
		body := new(bytes.Buffer)
		_, _ = body.ReadFrom(http.MaxBytesReader(w, r.Body, 1<<16))
		form, _ := url.ParseQuery(body.String())
		switch form.Get("grant_type") {
		case "authorization_code":
			c.codes.Add(1)
		case "refresh_token":
			c.refresh.Add(1)
		}
		c.remember(form.Get("code"), form.Get("code_verifier"), form.Get("refresh_token"), form.Get("token"))
		r.Body = ioNopCloser(bytes.NewReader(body.Bytes()))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var tok struct{ AccessToken, RefreshToken string }
		var raw map[string]any
		if json.Unmarshal(rec.Body.Bytes(), &raw) == nil {
			tok.AccessToken, _ = raw["access_token"].(string)
			tok.RefreshToken, _ = raw["refresh_token"].(string)
			c.remember(tok.AccessToken, tok.RefreshToken)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// env is one relay configuration: a data dir with a file vault key.
type relayEnv struct {
	t       *testing.T
	c       *chain
	dir     string
	keyFile string
	log     string // fakebrowser's log of opened URLs
	vars    map[string]string
}

func newRelayEnv(t *testing.T, c *chain) *relayEnv {
	t.Helper()
	_, browser := buildBins(t)
	dir := t.TempDir()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "vault-key.txt")
	if err := os.WriteFile(key, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &relayEnv{t: t, c: c, dir: filepath.Join(dir, "data"), keyFile: key, log: filepath.Join(dir, "browser.log")}
	e.vars = map[string]string{
		"PATH": os.Getenv("PATH"), "HOME": dir,
		"RELAY_BACKEND_URL": c.url, "RELAY_AUTH_SERVER_URL": c.url, "RELAY_CLIENT_ID": "relay",
		"RELAY_DATA_DIR": e.dir, "RELAY_VAULT_KEY": "file:" + key, "RELAY_LOG_LEVEL": "debug",
		"BROWSER": browser, "FAKEBROWSER_USER": testUser, "FAKEBROWSER_PASSWORD": testPass, "FAKEBROWSER_LOG": e.log,
	}
	return e
}

func (e *relayEnv) environ(extra ...string) []string {
	var out []string
	for k, v := range e.vars {
		out = append(out, k+"="+v)
	}
	return append(out, extra...)
}

// opens counts browser launches so far.
func (e *relayEnv) opens() int {
	b, _ := os.ReadFile(e.log)
	return strings.Count(string(b), "open\n")
}

// vault opens the relay's vault from the test process.
func (e *relayEnv) vault() *vault.Vault {
	v, err := vault.Open(context.Background(), vault.Options{Dir: e.dir, KeySpec: "file:" + e.keyFile})
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *relayEnv) account() vault.Account {
	return vault.Account{Issuer: e.c.url, ClientID: "relay", Resource: e.c.url}
}

// expireStored moves the stored token's expiry into the past, as if time
// had passed, so the next relay process must refresh.
func (e *relayEnv) expireStored() {
	err := e.vault().Update(context.Background(), e.account(), func(r *vault.Record) (*vault.Record, error) {
		r.Expiry = time.Now().Add(-time.Minute)
		return r, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// session is one relay process driven by mcp-go's stdio client.
type session struct {
	c      *client.Client
	stderr *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// start runs a relay driven by a client of the current protocol era
// (server/discover, 2026-07-28).
func (e *relayEnv) start(extra ...string) *session { return e.startWith(nil, extra...) }

// startLegacy runs a relay driven by a 2025-era client (initialize).
func (e *relayEnv) startLegacy(extra ...string) *session {
	//lint:ignore SA1019 2025-era clients (initialize) are exactly what this drives.
	return e.startWith([]client.ClientOption{client.WithLegacyProtocolOnly()}, extra...)
}

func (e *relayEnv) startWith(opts []client.ClientOption, extra ...string) *session {
	e.t.Helper()
	relay, _ := buildBins(e.t)
	stderr := &lockedBuffer{}
	tr := transport.NewStdioWithOptions(relay, e.environ(extra...), []string{"serve"}, transport.WithCommandStderrWriter(stderr))
	if err := tr.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	c := client.NewClient(tr, opts...)
	if err := c.Start(context.Background()); err != nil { // wires notifications
		e.t.Fatal(err)
	}
	s := &session{c: c, stderr: stderr}
	e.t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := mcp.InitializeRequest{}
	legacy := len(opts) > 0 // the only option passed is WithLegacyProtocolOnly
	if legacy {
		req.Params.ProtocolVersion = "2025-06-18"
	} // else empty: the client negotiates with server/discover (2026-07-28)
	req.Params.ClientInfo = mcp.Implementation{Name: "e2e", Version: "1"}
	if _, err := c.Initialize(ctx, req); err != nil {
		e.t.Fatalf("initialize: %v\n%s", err, stderr.String())
	}
	if modern := mcp.IsModernProtocol(c.ProtocolVersion()); modern == legacy {
		e.t.Fatalf("client era: protocol %s, want modern=%v", c.ProtocolVersion(), !legacy)
	}
	return s
}

// call runs a tool and returns its text and isError.
func (s *session) call(t *testing.T, name string, args map[string]any) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := s.c.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("call %s: %v\n%s", name, err, s.stderr.String())
	}
	var text strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			text.WriteString(tc.Text)
		}
	}
	return text.String(), res.IsError
}

func (s *session) mustCall(t *testing.T, name string, args map[string]any) string {
	t.Helper()
	text, isErr := s.call(t, name, args)
	if isErr {
		t.Fatalf("%s failed: %s\n%s", name, text, s.stderr.String())
	}
	return text
}

// runCLI runs a relay command to completion.
func (e *relayEnv) runCLI(args ...string) (string, string, int) {
	e.t.Helper()
	relay, _ := buildBins(e.t)
	cmd := exec.Command(relay, args...)
	cmd.Env = e.environ()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}
