package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// Obviously fake secrets the fake server hands out.
const (
	fakeCode    = "fake-code-0123456789abcdef"
	fakeAccess  = "fake-access-token-0123456789"
	fakeRefresh = "fake-refresh-token-0123456789"
	fakeRotated = "fake-rotated-refresh-token-0123456789"
	resourceURL = "https://backend.example/mcp"
)

// recorded is one request the fake server received.
type recorded struct {
	Method, Path string
	Header       http.Header
	Form         url.Values // POST body, parsed
	RawForm      string
}

// fakeAS is an httptest authorization server that records what it
// receives. Its token endpoint answers with tokenReply, which a test can
// replace (setToken) or script (poll); its device authorization and
// registration endpoints answer with devStatus/devBody and
// regStatus/regBody.
type fakeAS struct {
	srv *httptest.Server
	md  Metadata

	mu                   sync.Mutex
	reqs                 []recorded
	tokenReply           func(form url.Values) (int, string)
	revStatus            int
	devStatus, regStatus int
	devBody, regBody     string
	hang                 int          // the next hang token requests block until the client gives up
	handler              http.Handler // replaces serve when set
}

// override makes h answer every request (still recorded).
func (f *fakeAS) override(h http.Handler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handler = h
}

func newFakeAS(t *testing.T) *fakeAS {
	t.Helper()
	f := &fakeAS{revStatus: http.StatusOK, devStatus: http.StatusOK, devBody: goodDeviceAuth, regStatus: http.StatusCreated, regBody: `{"client_id":"dyn-1"}`}
	f.tokenReply = f.defaultToken
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	iss := f.srv.URL
	f.md = Metadata{
		Issuer: iss, AuthorizationEndpoint: iss + "/authorize", TokenEndpoint: iss + "/token",
		RevocationEndpoint: iss + "/revoke", RegistrationEndpoint: iss + "/register",
		DeviceAuthorizationEndpoint: iss + "/device_authorization", CodeChallengeMethodsSupported: []string{"S256"},
		AuthorizationResponseIssParameterSupported: true,
	}
	return f
}

func (f *fakeAS) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(b))
	f.mu.Lock()
	f.reqs = append(f.reqs, recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Form: form, RawForm: string(b)})
	h, status, body, hang := f.handler, 0, "", false
	switch r.URL.Path {
	case "/token":
		status, body = f.tokenReply(form)
		if hang = f.hang > 0; hang {
			f.hang--
		}
	case "/device_authorization":
		status, body = f.devStatus, f.devBody
	case "/register":
		status, body = f.regStatus, f.regBody
	case "/revoke":
		status = f.revStatus
	}
	f.mu.Unlock()
	switch {
	case h != nil:
		h.ServeHTTP(w, r)
	case hang:
		<-r.Context().Done()
	case r.URL.Path == "/.well-known/oauth-authorization-server":
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(f.md)
	case r.URL.Path == "/revoke":
		w.WriteHeader(status)
	case status != 0:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	default:
		http.NotFound(w, r)
	}
}

// defaultToken accepts fakeCode and fakeRefresh and rotates the latter.
func (f *fakeAS) defaultToken(form url.Values) (int, string) {
	switch {
	case form.Get("grant_type") == "authorization_code" && form.Get("code") == fakeCode:
		return 200, `{"access_token":"` + fakeAccess + `","token_type":"Bearer","expires_in":900,"refresh_token":"` + fakeRefresh + `","scope":"notes:read"}`
	case form.Get("grant_type") == "refresh_token" && form.Get("refresh_token") == fakeRefresh:
		return 200, `{"access_token":"` + fakeAccess + `-2","token_type":"bearer","expires_in":600,"refresh_token":"` + fakeRotated + `"}`
	}
	return 400, `{"error":"invalid_grant","error_description":"unknown code or token"}`
}

func (f *fakeAS) setToken(fn func(url.Values) (int, string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenReply = fn
}

// poll scripts the token endpoint: one answer per request, the last
// repeating; 200 for an answer holding an access token, else 400.
func (f *fakeAS) poll(answers ...string) {
	f.setToken(func(url.Values) (int, string) {
		body := answers[0]
		if len(answers) > 1 {
			answers = answers[1:]
		}
		if strings.Contains(body, "access_token") {
			return 200, body
		}
		return 400, body
	})
}

// requests returns the recorded requests to path.
func (f *fakeAS) requests(path string) []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []recorded
	for _, r := range f.reqs {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// fixedNow is the injected clock of every test client.
var fixedNow = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func (f *fakeAS) client() *Client {
	md := f.md
	return &Client{
		ClientID: "relay", Scopes: []string{"notes:read", "notes:write"}, Resource: resourceURL,
		Metadata: &md, HTTP: f.srv.Client(), Now: func() time.Time { return fixedNow },
	}
}

// startLogin starts a login on a random port and closes it at cleanup.
func startLogin(t *testing.T, c *Client) *Login {
	t.Helper()
	return startLoginAt(t, c, Callback{})
}

// startLoginAt starts a login at cb and closes it at cleanup.
func startLoginAt(t *testing.T, c *Client, cb Callback) *Login {
	t.Helper()
	l, err := c.StartLogin(context.Background(), cb)
	testkit.NoErr(t, err, "StartLogin")
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// authParams returns the query of the login's authorization URL.
func authParams(t *testing.T, l *Login) url.Values {
	t.Helper()
	u, err := url.Parse(l.URL())
	testkit.NoErr(t, err)
	return u.Query()
}

// goodQuery is the query of the real redirect for l.
func goodQuery(t *testing.T, l *Login) url.Values {
	return url.Values{"code": {fakeCode}, "state": {authParams(t, l).Get("state")}, "iss": {l.c.Metadata.Issuer}}
}

// hit sends a request to the login's callback server, like a browser.
func hit(t *testing.T, l *Login, method, path, rawQuery string, mod ...func(*http.Request)) (int, http.Header, string) {
	t.Helper()
	return hitAddr(t, l.host, method, path, rawQuery, mod...)
}

// hitAddr sends a request to addr (HOST:PORT, a literal to pick one
// listener); Host is addr unless mod changes it.
func hitAddr(t *testing.T, addr, method, path, rawQuery string, mod ...func(*http.Request)) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, nil)
	testkit.NoErr(t, err)
	req.URL.RawQuery = rawQuery
	for _, m := range mod {
		m(req)
	}
	resp, err := (&http.Transport{DisableKeepAlives: true}).RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// waitResult is what Wait returned, collected from a goroutine.
type waitResult struct {
	tok *Tokens
	err error
}

// waitAsync runs Wait in a goroutine, as the relay does while the browser
// works.
func waitAsync(l *Login, ctx context.Context) <-chan waitResult {
	ch := make(chan waitResult, 1)
	go func() {
		tok, err := l.Wait(ctx)
		ch <- waitResult{tok, err}
	}()
	return ch
}

// result takes Wait's result, failing after a generous deadline.
func result(t *testing.T, ch <-chan waitResult) waitResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return")
		return waitResult{}
	}
}

// begin starts a login with f's client and runs Wait in a goroutine.
func begin(t *testing.T, f *fakeAS) (*Login, <-chan waitResult) {
	t.Helper()
	l := startLogin(t, f.client())
	return l, waitAsync(l, context.Background())
}

// code is hit's status alone.
func code(status int, _ http.Header, _ string) int { return status }

// wantCode marks the test failed unless a request got status want;
// format and args name the case.
func wantCode(t *testing.T, got, want int, format string, args ...any) {
	t.Helper()
	if got != want {
		t.Errorf("%s: status %d, want %d", fmt.Sprintf(format, args...), got, want)
	}
}

// wantRequests fails unless f received n requests to path; why says what
// another number would mean.
func (f *fakeAS) wantRequests(t *testing.T, path string, n int, why string) {
	t.Helper()
	if got := len(f.requests(path)); got != n {
		t.Fatalf("%d %s requests, want %d: %s", got, path, n, why)
	}
}

// wantClosed fails if addr still accepts connections.
func wantClosed(t *testing.T, addr, when string) {
	t.Helper()
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatalf("%s is still open %s", addr, when)
	}
}

// succeeded fails unless Wait's result on ch is a success.
func succeeded(t *testing.T, ch <-chan waitResult) *Tokens {
	t.Helper()
	r := result(t, ch)
	if r.err != nil {
		t.Fatalf("Wait: %v", r.err)
	}
	return r.tok
}

// completes asserts that the real redirect, to the login's callback path,
// still completes the login.
func completes(t *testing.T, l *Login, ch <-chan waitResult) {
	t.Helper()
	status, _, body := hit(t, l, "GET", l.path, goodQuery(t, l).Encode())
	if status != 200 || body != pageSuccess {
		t.Fatalf("real redirect: status %d", status)
	}
	if tok := succeeded(t, ch); !tok.AccessToken.Equal(secret.New(fakeAccess)) {
		t.Fatal("Wait after the real redirect: not the access token")
	}
}

func s256(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func has(s, sub string) bool { return strings.Contains(s, sub) }

func secretOf(s string) secret.Value { return secret.New(s) }

// httpBlock is a handler that hangs until block is closed.
func httpBlock(block <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
}
