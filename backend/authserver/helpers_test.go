package authserver

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// Obviously fake credentials for tests.
const (
	alicePW = "fake-password-alice"
	bobPW   = "fake-password-bob"
)

func TestMain(m *testing.M) {
	bcryptCost = bcrypt.MinCost // test hook: keep the package fast
	os.Exit(m.Run())
}

func newClock() *testkit.StepClock { return testkit.NewStepClock(time.Unix(1_800_000_000, 0)) }

// env is a running server with a browser-like client (cookie jar, no
// redirect following) and a log buffer.
type env struct {
	t       *testing.T
	s       *Server
	ts      *httptest.Server
	clock   *testkit.StepClock
	browser *http.Client
	logs    *testkit.Buffer
}

// newEnv starts a server whose issuer is the httptest URL. mod may change
// the config (Issuer and Resources are set before mod runs).
func newEnv(t *testing.T, mod ...func(*Config)) *env {
	t.Helper()
	var h http.Handler = http.NotFoundHandler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	e := &env{t: t, ts: ts, clock: newClock(), logs: &testkit.Buffer{}}
	cfg := Config{
		Issuer: ts.URL, Resources: []string{ts.URL, "https://other.example/api"},
		Users:  testUsers(t),
		Now:    e.clock.Now,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, m := range mod {
		m(&cfg)
	}
	s, err := New(cfg)
	testkit.NoErr(t, err, "New")
	e.s, h = s, s.Handler()
	e.browser = newBrowser(t)
	return e
}

var (
	usersOnce sync.Once
	users     []User
)

func testUsers(t *testing.T) []User {
	usersOnce.Do(func() {
		var err error
		users, err = ParseUsers("alice:" + alicePW + ",bob:" + bobPW)
		testkit.NoErr(t, err)
	})
	return users
}

func newBrowser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	testkit.NoErr(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// resp is a drained HTTP response.
type resp struct {
	status int
	header http.Header
	body   string
}

func (r resp) location(t *testing.T) *url.URL {
	t.Helper()
	u, err := url.Parse(r.header.Get("Location"))
	if err != nil || r.header.Get("Location") == "" {
		t.Fatalf("no Location (status %d): %q", r.status, r.header.Get("Location"))
	}
	return u
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body is not JSON (status %d): %q", r.status, r.body)
	}
	return m
}

func do(t *testing.T, c *http.Client, req *http.Request) resp {
	t.Helper()
	res, err := c.Do(req)
	testkit.NoErr(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: string(b)}
}

func (e *env) get(path string) resp {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.abs(path), nil)
	return do(e.t, e.browser, req)
}

func (e *env) post(path string, v url.Values) resp {
	e.t.Helper()
	return e.postRaw(path, "application/x-www-form-urlencoded", v.Encode())
}

func (e *env) postRaw(path, ctype, body string) resp {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.abs(path), strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return do(e.t, e.browser, req)
}

func (e *env) abs(p string) string {
	if strings.HasPrefix(p, "http") {
		return p
	}
	return e.ts.URL + p
}

// authParams are valid /authorize parameters for the relay client.
func authParams(challenge string) url.Values {
	return url.Values{
		"client_id": {"relay"}, "redirect_uri": {"http://127.0.0.1:43210/callback"},
		"response_type": {"code"}, "state": {"st-123"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
}

// authQuery is authParams with a fresh challenge.
func authQuery() url.Values { _, ch := pkce(); return authParams(ch) }

func pkce() (verifier, challenge string) {
	v := oauth2.GenerateVerifier()
	return v, oauth2.S256ChallengeFromVerifier(v)
}

var hiddenRE = regexp.MustCompile(`name="(request_id|csrf_token)" value="([^"]*)"`)

// hidden extracts the hidden form fields of a page.
func hidden(t *testing.T, page string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], m[2])
	}
	if v.Get("csrf_token") == "" {
		t.Fatalf("page has no csrf_token: %s", page)
	}
	return v
}

// startAuthorize runs /authorize and returns the login page's hidden fields.
func (e *env) startAuthorize(q url.Values) url.Values {
	e.t.Helper()
	r := e.get("/authorize?" + q.Encode())
	if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "/login?") {
		e.t.Fatalf("authorize: status %d location %q body %s", r.status, r.header.Get("Location"), r.body)
	}
	page := e.get(r.header.Get("Location"))
	if page.status != 200 {
		e.t.Fatalf("login page: %d %s", page.status, page.body)
	}
	return hidden(e.t, page.body)
}

// login posts the login form and returns the consent page's hidden fields.
func (e *env) login(h url.Values, user, pw string) url.Values {
	e.t.Helper()
	f := url.Values{"request_id": h["request_id"], "csrf_token": h["csrf_token"], "username": {user}, "password": {pw}}
	r := e.post("/login", f)
	if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "/consent?") {
		e.t.Fatalf("login: status %d location %q", r.status, r.header.Get("Location"))
	}
	page := e.get(r.header.Get("Location"))
	if page.status != 200 {
		e.t.Fatalf("consent page: %d %s", page.status, page.body)
	}
	return hidden(e.t, page.body)
}

// consent posts allow or deny and returns the redirect.
func (e *env) consent(h url.Values, action string) resp {
	e.t.Helper()
	return e.post("/consent", url.Values{"request_id": h["request_id"], "csrf_token": h["csrf_token"], "action": {action}})
}

// code runs the whole browser part and returns the code.
func (e *env) code(q url.Values) string {
	e.t.Helper()
	r := e.consent(e.login(e.startAuthorize(q), "alice", alicePW), "allow")
	loc := r.location(e.t)
	if r.status != http.StatusSeeOther || loc.Query().Get("code") == "" {
		e.t.Fatalf("consent: status %d location %s", r.status, loc)
	}
	return loc.Query().Get("code")
}

// freshCode runs the browser part for a fresh PKCE pair and returns the
// code and its verifier.
func (e *env) freshCode() (code, verifier string) {
	e.t.Helper()
	v, ch := pkce()
	return e.code(authParams(ch)), v
}

// exchange redeems a code for the relay client.
func (e *env) exchange(code, verifier string, extra ...string) resp {
	e.t.Helper()
	v := url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"client_id": {"relay"}, "redirect_uri": {"http://127.0.0.1:43210/callback"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return e.post("/token", v)
}

// tokens runs a full login and exchange and returns the token response.
func (e *env) tokens() map[string]any {
	e.t.Helper()
	r := e.exchange(e.freshCode())
	if r.status != 200 {
		e.t.Fatalf("exchange: %d %s", r.status, r.body)
	}
	return r.json(e.t)
}

func (e *env) refresh(rt string, extra ...string) resp {
	e.t.Helper()
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"relay"}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return e.post("/token", v)
}

// wantOAuthError checks an RFC 6749 JSON error.
func wantOAuthError(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if got := r.json(t)["error"]; got != code {
		t.Fatalf("error = %v, want %s; body %s", got, code, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("error response lacks Cache-Control: no-store")
	}
}

// wantRedirectError checks an authorization error redirect to the client.
func wantRedirectError(t *testing.T, r resp, code string) {
	t.Helper()
	if r.status != http.StatusSeeOther {
		t.Fatalf("status = %d, want 303; body %s", r.status, r.body)
	}
	loc := r.location(t)
	if loc.Host != "127.0.0.1:43210" || loc.Query().Get("error") != code {
		t.Fatalf("redirect = %s, want error=%s to the client", loc, code)
	}
}

// wantErrorPage checks that a request was refused with a page and no
// redirect.
func wantErrorPage(t *testing.T, r resp) {
	t.Helper()
	if r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
		t.Fatalf("status %d location %q, want 400 page without redirect", r.status, r.header.Get("Location"))
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("content type %q", r.header.Get("Content-Type"))
	}
}
