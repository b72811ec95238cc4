package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// login runs a whole login against f with the real redirect.
func login(t *testing.T, c *Client) (*Login, *Tokens, error) {
	t.Helper()
	l := startLogin(t, c)
	ch := waitAsync(l, context.Background())
	hit(t, l, "GET", "/callback", goodQuery(t, l).Encode())
	r := result(t, ch)
	return l, r.tok, r.err
}

func TestC17_C18_ExchangeSendsWhatTheServerNeeds(t *testing.T) {
	f := newFakeAS(t)
	l, tok, err := login(t, f.client())
	testkit.NoErr(t, err)
	q := authParams(t, l)
	reqs := f.requests("/token")
	if len(reqs) != 1 {
		t.Fatalf("%d token requests", len(reqs))
	}
	got := reqs[0]
	want := map[string]string{
		"grant_type": "authorization_code", "code": fakeCode, "redirect_uri": l.RedirectURI(),
		"client_id": "relay", "resource": resourceURL,
	}
	for k, v := range want {
		if got.Form.Get(k) != v {
			t.Errorf("token request %s = %q, want %q", k, got.Form.Get(k), v)
		}
	}
	for k, vs := range got.Form {
		if len(vs) != 1 {
			t.Errorf("token request repeats %s", k)
		}
	}
	if v := got.Form.Get("code_verifier"); len(v) != 43 || s256(v) != q.Get("code_challenge") {
		t.Errorf("code_verifier (%d chars) does not match the challenge", len(v))
	}
	if got.Header.Get("Authorization") != "" || got.Form.Has("client_secret") {
		t.Error("a public client sent client authentication")
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" || got.Method != "POST" {
		t.Errorf("method %s, content type %q", got.Method, ct)
	}
	if !tok.AccessToken.Equal(secretOf(fakeAccess)) || !tok.RefreshToken.Equal(secretOf(fakeRefresh)) ||
		tok.TokenType != "Bearer" || strings.Join(tok.Scopes, " ") != "notes:read" || !tok.Expiry.Equal(fixedNow.Add(900*time.Second)) {
		t.Errorf("tokens %+v", tok)
	}
}

func TestC17_AuthorizationURL(t *testing.T) {
	f := newFakeAS(t)
	c := f.client()
	c.ExtraAuthParams = url.Values{"audience": {"https://api.example"}}
	l := startLogin(t, c)
	u, _ := url.Parse(l.URL())
	if u.Scheme+"://"+u.Host+u.Path != f.md.AuthorizationEndpoint {
		t.Fatalf("URL %s is not the authorization endpoint", u.Redacted())
	}
	q := u.Query()
	want := map[string]string{
		"response_type": "code", "client_id": "relay", "redirect_uri": l.RedirectURI(),
		"scope": "notes:read notes:write", "resource": resourceURL, "code_challenge_method": "S256",
		"audience": "https://api.example",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if len(q.Get("state")) != 43 || len(q.Get("code_challenge")) != 43 || q.Has("code_verifier") {
		t.Errorf("state %d chars, challenge %d chars, verifier present %v", len(q.Get("state")), len(q.Get("code_challenge")), q.Has("code_verifier"))
	}
	if has(l.URL(), l.pkce.verifier.Reveal()) {
		t.Fatal("the URL holds the verifier")
	}
}

func TestC17_ResourceDisabled(t *testing.T) {
	f := newFakeAS(t)
	c := f.client()
	c.Resource = ""
	l, tok, err := login(t, c)
	testkit.NoErr(t, err)
	if authParams(t, l).Has("resource") || f.requests("/token")[0].Form.Has("resource") {
		t.Fatal("resource sent although disabled")
	}
	if _, err := c.Refresh(context.Background(), tok.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if f.requests("/token")[1].Form.Has("resource") {
		t.Fatal("resource sent on refresh although disabled")
	}
	c.Resource = "https://backend.example/mcp#frag"
	testkit.WantIs(t, testkit.ErrOf(c.StartLogin(context.Background(), Callback{})), ErrConfig, "resource with fragment")
}

func TestC18_FreshVerifierPerAttempt(t *testing.T) {
	f := newFakeAS(t)
	c := f.client()
	seen := map[string]bool{}
	for range 3 {
		l := startLogin(t, c)
		q := authParams(t, l)
		v := l.pkce.verifier.Reveal()
		if len(v) != 43 || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") != s256(v) {
			t.Fatalf("verifier %d chars, method %q", len(v), q.Get("code_challenge_method"))
		}
		if seen[v] || seen[q.Get("state")] {
			t.Fatal("a verifier or state was reused")
		}
		seen[v], seen[q.Get("state")] = true, true
	}
}

func TestExtraAuthParamsCannotOverride(t *testing.T) {
	f := newFakeAS(t)
	for _, k := range []string{"state", "code_challenge", "code_challenge_method", "redirect_uri", "client_id", "resource", "scope", "response_type"} {
		c := f.client()
		c.ExtraAuthParams = url.Values{k: {"x"}}
		testkit.ExpectIs(t, testkit.ErrOf(c.StartLogin(context.Background(), Callback{})), ErrConfig, "ExtraAuthParams %s", k)
	}
	c := f.client()
	c.ExtraAuthParams = url.Values{"prompt": {"a", "b"}}
	testkit.ExpectIs(t, testkit.ErrOf(c.StartLogin(context.Background(), Callback{})), ErrConfig, "repeated extra param")
}

func TestC14_BadTokenResponses(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{"no access_token", 200, `{"token_type":"Bearer","expires_in":60}`, ErrBadResponse},
		{"empty access_token", 200, `{"access_token":"","token_type":"Bearer"}`, ErrBadResponse},
		{"mac token", 200, `{"access_token":"a","token_type":"mac"}`, ErrBadResponse},
		{"DPoP token", 200, `{"access_token":"a","token_type":"DPoP"}`, ErrBadResponse},
		{"no token_type", 200, `{"access_token":"a"}`, ErrBadResponse},
		{"numeric token", 200, `{"access_token":1,"token_type":"Bearer"}`, ErrBadResponse},
		{"negative expires_in", 200, `{"access_token":"a","token_type":"Bearer","expires_in":-1}`, ErrBadResponse},
		{"fractional expires_in", 200, `{"access_token":"a","token_type":"Bearer","expires_in":1.5}`, ErrBadResponse},
		{"absurd expires_in", 200, `{"access_token":"a","token_type":"Bearer","expires_in":1e30}`, ErrBadResponse},
		{"not JSON", 200, `access_token=a&token_type=bearer`, ErrBadResponse},
		{"JSON array", 200, `[]`, ErrBadResponse},
		{"500 HTML", 500, `<html>oops</html>`, ErrBadResponse},
		{"huge", 200, `{"access_token":"a","token_type":"Bearer","pad":"` + strings.Repeat("x", maxBody) + `"}`, ErrTooLarge},
		{"200 with error", 200, `{"error":"invalid_grant"}`, ErrInvalidGrant},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAS(t)
			f.setToken(func(url.Values) (int, string) { return tc.status, tc.body })
			_, tok, err := login(t, f.client())
			if !errors.Is(err, tc.want) || tok != nil {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestTokenResponseVariants(t *testing.T) {
	for name, tc := range map[string]struct {
		body   string
		expiry time.Time
		scopes string
	}{
		"lowercase bearer, no scope":   {`{"access_token":"a","token_type":"bearer","expires_in":60}`, fixedNow.Add(time.Minute), "notes:read notes:write"},
		"expires_in as string":         {`{"access_token":"a","token_type":"BEARER","expires_in":"60","scope":"x y"}`, fixedNow.Add(time.Minute), "x y"},
		"no expires_in":                {`{"access_token":"a","token_type":"Bearer"}`, time.Time{}, "notes:read notes:write"},
		"unknown fields are tolerated": {`{"access_token":"a","token_type":"Bearer","id_token":"x","expires_in":0}`, fixedNow, "notes:read notes:write"},
	} {
		t.Run(name, func(t *testing.T) {
			tok, err := decodeToken(200, []byte(tc.body), fixedNow, []string{"notes:read", "notes:write"})
			testkit.NoErr(t, err)
			if !tok.Expiry.Equal(tc.expiry) || strings.Join(tok.Scopes, " ") != tc.scopes || !tok.RefreshToken.IsZero() {
				t.Fatalf("expiry %v scopes %v", tok.Expiry, tok.Scopes)
			}
		})
	}
}

func TestTokenEndpointRedirectNotFollowed(t *testing.T) {
	f := newFakeAS(t)
	other := newFakeAS(t)
	f.override(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.srv.URL+"/token", http.StatusTemporaryRedirect)
	}))
	_, _, err := login(t, f.client())
	testkit.WantIs(t, err, ErrRedirect, "login")
	other.wantRequests(t, "/token", 0, "the code was resent to the redirect target")
}

func TestErrorsAreSanitised(t *testing.T) {
	f := newFakeAS(t)
	long := strings.Repeat("d", 500)
	f.setToken(func(form url.Values) (int, string) {
		return 400, `{"error":"invalid_grant\u001b[31m","error_description":"bad code ` + form.Get("code") +
			` verifier ` + form.Get("code_verifier") + ` \u0007` + long + `"}`
	})
	_, _, err := login(t, f.client())
	var oe *Error
	if !errors.As(err, &oe) || oe.Code != "invalid_grant[31m" {
		t.Fatalf("err %v", err)
	}
	msg := err.Error()
	if has(msg, fakeCode) || has(msg, "\x1b") || has(msg, "\x07") || len(oe.Description) > maxDescLen+3 || !has(msg, "REDACTED") {
		t.Fatalf("error not sanitised: %q", msg)
	}
	verifier := f.requests("/token")[0].Form.Get("code_verifier")
	if has(msg, verifier) {
		t.Fatal("error holds the verifier")
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                     "plain",
		"tab\tnew\nline\x00nul\x7f": "tabnewlinenul",
		"é€😀":                       "",
		strings.Repeat("a", 300):    strings.Repeat("a", 200) + "...",
		"has SECRET inside":         "has REDACTED inside",
	} {
		if got := sanitize(in, 200, secretOf("SECRET"), secretOf("")); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}
