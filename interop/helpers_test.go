package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/interop/internal/zlogin"
	"github.com/keyrelay/keyrelay/vault"
)

func TestMain(m *testing.M) {
	// The example provider logs every request through the default slog.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	testkit.Main(m)
}

// zbrowser is the scripted browser for the example provider's login page.
func zbrowser(t *testing.T) string {
	return testkit.Build(t, "github.com/keyrelay/keyrelay/interop/cmd/zbrowser")
}

// startBackend runs the backend binary in JWKS mode: it trusts issuer,
// discovers its keys, and wants aud = audience. Its environment is PATH
// and a private HOME: nothing of the caller's backend settings.
func startBackend(t *testing.T, issuer, audience string) string {
	t.Helper()
	return testkit.StartBackend(t, "AUTH_SERVER_URL="+issuer, "BACKEND_AUDIENCE="+audience, "BACKEND_LOG_LEVEL=debug")
}

// wantWhoami calls the backend's whoami tool directly with token, and
// stops the test unless the answer's status is want, and a 401's
// challenge is invalid_token and holds reason; what names the token. It
// returns the challenge.
func wantWhoami(t *testing.T, backendURL, token string, want int, reason, what string) string {
	t.Helper()
	resp, body := testkit.PostTool(t, backendURL, "whoami", "{}", token)
	ch := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != want || want == http.StatusUnauthorized && (!strings.Contains(ch, `error="invalid_token"`) || !strings.Contains(ch, reason)) {
		t.Fatalf("%s: %d %q %s; want %d %s", what, resp.StatusCode, ch, body, want, reason)
	}
	return ch
}

// relayEnv is one relay configuration against an authorization server
// and a backend, with zbrowser signing in.
type relayEnv struct {
	*testkit.RelayEnv
	t         *testing.T
	issuer    string
	backend   string
	browseLog string
}

// newRelayEnv is a relay configuration for the relay's client at issuer
// and for backend, with zbrowser signing in as user; vars add to its
// settings or replace them.
func newRelayEnv(t *testing.T, issuer, backend, user, password string, vars map[string]string) *relayEnv {
	t.Helper()
	e := &relayEnv{RelayEnv: testkit.NewRelayEnv(t), t: t, issuer: issuer, backend: backend}
	e.browseLog = filepath.Join(e.Home, "browser.log")
	maps.Copy(e.Vars, map[string]string{
		"RELAY_AUTH_SERVER_URL": issuer, "RELAY_BACKEND_URL": backend, "RELAY_CLIENT_ID": relayClientID, "RELAY_LOGIN_TIMEOUT": "30s",
		"BROWSER": zbrowser(t), "ZBROWSER_USER": user, "ZBROWSER_PASSWORD": password, "ZBROWSER_LOG": e.browseLog,
	})
	maps.Copy(e.Vars, vars)
	return e
}

// opens counts browser launches; browserLog is everything zbrowser wrote.
func (e *relayEnv) opens() int {
	n := 0
	for _, l := range strings.Split(e.browserLog(), "\n") {
		if l == "open" {
			n++
		}
	}
	return n
}

func (e *relayEnv) browserLog() string {
	b, _ := os.ReadFile(e.browseLog)
	return string(b)
}

func (e *relayEnv) vault() *vault.Vault {
	v, err := vault.Open(context.Background(), vault.Options{Dir: e.Dir, KeySpec: "file:" + e.KeyFile})
	testkit.NoErr(e.t, err)
	return v
}

func (e *relayEnv) account() vault.Account {
	return vault.Account{Issuer: e.issuer, ClientID: relayClientID, Resource: e.backend}
}

// stored returns the relay's stored access and refresh tokens.
func (e *relayEnv) stored() (access, refresh string) {
	e.t.Helper()
	rec, err := e.vault().Get(context.Background(), e.account())
	if err != nil {
		e.t.Fatalf("vault get %+v: %v", e.account(), err)
	}
	return rec.AccessToken.Reveal(), rec.RefreshToken.Reveal()
}

// expireStored moves the stored token's expiry into the past; expireAt
// that of acct's.
func (e *relayEnv) expireStored() { e.expireAt(e.account()) }

func (e *relayEnv) expireAt(acct vault.Account) {
	e.t.Helper()
	err := e.vault().Update(context.Background(), acct, func(r *vault.Record) (*vault.Record, error) {
		if r == nil {
			return nil, fmt.Errorf("no record for %+v", acct)
		}
		r.Expiry = time.Now().Add(-time.Minute)
		return r, nil
	})
	testkit.NoErr(e.t, err)
}

// start runs `relay serve` driven by mcp-go's client, in the 2025 era.
func (e *relayEnv) start() *testkit.Session {
	e.t.Helper()
	s := e.Serve(e.t, "2025-06-18", nil)
	e.t.Cleanup(func() {
		if e.t.Failed() {
			e.t.Logf("relay stderr:\n%s", s.Stderr.String())
		}
	})
	return s
}

// counts are what a spy in front of an authorization server counted.
type counts struct{ codes, refreshes, revokes atomic.Int64 }

// grant counts a token request by its grant type.
func (c *counts) grant(form url.Values) {
	switch form.Get("grant_type") {
	case "authorization_code":
		c.codes.Add(1)
	case "refresh_token":
		c.refreshes.Add(1)
	}
}

// peekForm reads a request's form body (up to 64 KiB) and puts the body
// back for the next handler.
func peekForm(w http.ResponseWriter, r *http.Request) url.Values {
	body, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<16))
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	return form
}

// want stops the test unless the browser opened opens times and the
// server saw codes code exchanges and refreshes refreshes.
func (e *relayEnv) want(step string, c *counts, opens int, codes, refreshes int64) {
	e.t.Helper()
	if e.opens() != opens || c.codes.Load() != codes || c.refreshes.Load() != refreshes {
		e.t.Fatalf("%s: %d browser opens, %d code exchanges, %d refreshes; browser log:\n%s",
			step, e.opens(), c.codes.Load(), c.refreshes.Load(), e.browserLog())
	}
}

// reuseThenRefresh is the middle of a chain test, after the first
// sign-in (one browser open, one code exchange) on s: a second call
// reuses the token (no browser, no token request); then the token
// expires, and a new relay process refreshes it once and stores the
// rotated refresh token. check calls whoami. It returns the new tokens.
func (e *relayEnv) reuseThenRefresh(s *testkit.Session, c *counts, check func(*testkit.Session)) (access, refresh string) {
	e.t.Helper()
	access1, refresh1 := e.stored()
	if refresh1 == "" {
		e.t.Fatal("no refresh token stored (scope offline_access)")
	}
	check(s)
	e.want("reuse", c, 1, 1, 0)
	_ = s.Close()
	e.expireStored()
	s2 := e.start()
	check(s2)
	e.want("refresh", c, 1, 1, 1)
	access, refresh = e.stored()
	if refresh == "" || refresh == refresh1 {
		e.t.Fatalf("refresh token did not rotate (empty: %v, same: %v)", refresh == "", refresh == refresh1)
	}
	if access == access1 {
		e.t.Fatal("access token did not change on refresh")
	}
	_ = s2.Close()
	return access, refresh
}

// logoutRevokes runs relay logout, which must send one revocation request
// more, after which refresh no longer works with cfg. It returns what
// logout said.
func (e *relayEnv) logoutRevokes(c *counts, cfg *oauth2.Config, refresh string) string {
	e.t.Helper()
	revokes := c.revokes.Load()
	stderr := e.Says(e.t, 0, "logout")
	if c.revokes.Load() != revokes+1 {
		e.t.Fatalf("logout sent %d revocation requests, want 1:\n%s", c.revokes.Load()-revokes, stderr)
	}
	if tok, err := refreshDirect(cfg, refresh); err == nil {
		e.t.Fatalf("refresh token still works after logout (got a token of %d bytes)", len(tok.AccessToken))
	}
	return stderr
}

// checkWhoami calls whoami through the relay and checks the user the
// backend saw: subject, issuer, the relay's client id and, if any are
// given, the scopes granted.
func checkWhoami(t *testing.T, s *testkit.Session, subject, issuer string, scopes ...string) {
	t.Helper()
	text, isErr := s.Call(t, "whoami", nil)
	if isErr {
		t.Fatalf("whoami failed: %s\nrelay stderr:\n%s", text, s.Stderr.String())
	}
	var who struct {
		Subject, Issuer string
		ClientID        string   `json:"client_id"`
		Scopes          []string `json:"scopes"`
	}
	if err := json.Unmarshal([]byte(text), &who); err != nil {
		t.Fatalf("whoami answer %q: %v", text, err)
	}
	slices.Sort(who.Scopes)
	slices.Sort(scopes)
	if who.Subject != subject || who.Issuer != issuer || who.ClientID != relayClientID || len(scopes) > 0 && !slices.Equal(who.Scopes, scopes) {
		t.Fatalf("whoami = %+v, want subject %q, issuer %q, client_id %q, scopes %v", who, subject, issuer, relayClientID, scopes)
	}
}

// loginDirect runs the code flow with PKCE for cfg's client in the test
// process (zlogin plays the browser and stops at the redirect), as user,
// and returns the token response.
func loginDirect(t *testing.T, cfg *oauth2.Config, user, password string, opts ...oauth2.AuthCodeOption) *oauth2.Token {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	verifier := oauth2.GenerateVerifier()
	state := oauth2.GenerateVerifier()
	res, err := zlogin.Login(ctx, cfg.AuthCodeURL(state, append(opts, oauth2.S256ChallengeOption(verifier))...), user, password, false)
	if err != nil {
		t.Fatalf("login as %s: %v", cfg.ClientID, err)
	}
	q := res.Final.Query()
	if q.Get("state") != state || q.Get("code") == "" {
		t.Fatalf("redirect for %s: state matches %v, code present %v, error %q", cfg.ClientID,
			q.Get("state") == state, q.Get("code") != "", q.Get("error"))
	}
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange for %s: %v", cfg.ClientID, err)
	}
	return tok
}

// refreshDirect redeems a refresh token of cfg's client.
func refreshDirect(cfg *oauth2.Config, refresh string) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh, Expiry: time.Now().Add(-time.Hour)}).Token()
}

// redactQuery drops values that are secrets or noise from a logged query.
func redactQuery(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		switch k {
		case "code_challenge", "state", "nonce":
			out[k] = []string{"…"}
		default:
			out[k] = vs
		}
	}
	return out
}
