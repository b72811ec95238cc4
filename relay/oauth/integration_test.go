package oauth_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/backend/authserver"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/oauth"
)

const (
	itUser     = "alice"
	itPassword = "fake-password-for-tests"
	itResource = "https://backend.example/mcp"
)

var (
	userOnce sync.Once
	user     authserver.User
	userErr  error
)

// testUser hashes the test password once: bcrypt is slow under -race.
func testUser(t *testing.T) authserver.User {
	userOnce.Do(func() { user, userErr = authserver.NewUser(itUser, itPassword) })
	if userErr != nil {
		t.Fatal(userErr)
	}
	return user
}

// browser is a cookie-keeping HTTP client that follows redirects, as a
// browser would, including the final one to the loopback callback.
type browser struct {
	t  *testing.T
	hc *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, hc: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.hc.Do(req)
	testkit.NoErr(b.t, err, "browser")
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browser) get(u string) (*http.Response, string) {
	req, _ := http.NewRequest("GET", u, nil)
	return b.do(req)
}

var (
	reAction = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	reHidden = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// submit posts the page's form with its hidden fields plus extra.
func (b *browser) submit(page *http.Response, body string, extra url.Values) (*http.Response, string) {
	b.t.Helper()
	m := reAction.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no form on %s", page.Request.URL.Path)
	}
	action, err := page.Request.URL.Parse(htmlUnescape(m[1]))
	testkit.NoErr(b.t, err)
	form := url.Values{}
	for _, h := range reHidden.FindAllStringSubmatch(body, -1) {
		form.Set(h[1], htmlUnescape(h[2]))
	}
	for k, vs := range extra {
		form[k] = vs
	}
	req, _ := http.NewRequest("POST", action.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

// approve drives the login and consent pages from page, the login page:
// sign in, then choose action. It returns the last page the browser got.
func (b *browser) approve(page *http.Response, body, action string) (*http.Response, string) {
	b.t.Helper()
	if page.StatusCode != 200 || !strings.Contains(body, `name="password"`) {
		b.t.Fatalf("login page: status %d at %s", page.StatusCode, page.Request.URL.Path)
	}
	page, body = b.submit(page, body, url.Values{"username": {itUser}, "password": {itPassword}})
	if page.StatusCode != 200 || !strings.Contains(body, `value="allow"`) {
		b.t.Fatalf("consent page: status %d at %s", page.StatusCode, page.Request.URL.Path)
	}
	return b.submit(page, body, url.Values{"action": {action}})
}

type waited struct {
	tok *oauth.Tokens
	err error
}

// runLogin starts a login and drives the browser while Wait runs.
func runLogin(t *testing.T, c *oauth.Client, action string) (*http.Response, string, waited) {
	return runLoginAt(t, c, oauth.Callback{}, action)
}

// runLoginAt is runLogin with the callback at cb.
func runLoginAt(t *testing.T, c *oauth.Client, cb oauth.Callback, action string) (*http.Response, string, waited) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := c.StartLogin(ctx, cb)
	testkit.NoErr(t, err)
	defer l.Close()
	ch := make(chan waited, 1)
	go func() {
		tok, err := l.Wait(ctx)
		ch <- waited{tok, err}
	}()
	b := newBrowser(t)
	page, body := b.get(l.URL())
	page, body = b.approve(page, body, action)
	return page, body, <-ch
}

func TestIntegrationAuthServer(t *testing.T) {
	for _, path := range []string{"", "/tenant"} {
		t.Run("issuer path "+path, func(t *testing.T) {
			t.Parallel()
			integration(t, startStack(t, path, nil), path == "")
		})
	}
}

// integration: Discover, a login through the real pages, a refresh with
// rotation, a revocation, and (when deny) a refused consent.
func integration(t *testing.T, st *stack, deny bool) {
	ctx := context.Background()
	var logs bytes.Buffer
	issuer, md := st.issuer, st.metadata(t)
	if md.Issuer != issuer || !md.AuthorizationResponseIssParameterSupported || md.RevocationEndpoint == "" {
		t.Fatalf("metadata %+v", md)
	}
	c := &oauth.Client{
		ClientID: "relay", Scopes: []string{"notes:read"}, Resource: itResource, Metadata: md,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}

	page, body, w := runLogin(t, c, "allow")
	if w.err != nil {
		t.Fatalf("Wait: %v", w.err)
	}
	if page.StatusCode != 200 || page.Request.URL.Hostname() != "127.0.0.1" || !strings.Contains(body, "Signed in") {
		t.Fatalf("browser ended on %s with status %d", page.Request.URL.Path, page.StatusCode)
	}
	tok := w.tok
	cl := testkit.PeekJWT(t, tok.AccessToken.Reveal(), 1)
	if cl["iss"] != issuer || cl["aud"] != itResource || cl["sub"] != itUser || cl["scope"] != "notes:read" {
		t.Fatalf("access token claims iss=%v aud=%v sub=%v scope=%v", cl["iss"], cl["aud"], cl["sub"], cl["scope"])
	}
	if tok.RefreshToken.IsZero() || !slices.Equal(tok.Scopes, []string{"notes:read"}) || time.Until(tok.Expiry) > 5*time.Minute {
		t.Fatalf("tokens: scopes %v, expiry %v", tok.Scopes, tok.Expiry)
	}

	tok2, err := c.Refresh(ctx, tok.RefreshToken)
	testkit.NoErr(t, err, "Refresh")
	if tok2.RefreshToken.Equal(tok.RefreshToken) || tok2.AccessToken.Equal(tok.AccessToken) {
		t.Fatal("the refresh token did not rotate")
	}
	if testkit.PeekJWT(t, tok2.AccessToken.Reveal(), 1)["aud"] != itResource {
		t.Fatal("refreshed token lost its audience")
	}

	testkit.NoErr(t, c.Revoke(ctx, tok2.RefreshToken, "refresh_token"), "Revoke")
	testkit.WantIs(t, testkit.ErrOf(c.Refresh(ctx, tok2.RefreshToken)), oauth.ErrInvalidGrant, "Refresh after Revoke")
	for _, s := range []string{tok.AccessToken.Reveal(), tok.RefreshToken.Reveal(), tok2.AccessToken.Reveal(), tok2.RefreshToken.Reveal()} {
		if strings.Contains(logs.String(), s) {
			t.Fatal("a token reached the debug log")
		}
	}

	if !deny {
		return
	}
	t.Run("deny", func(t *testing.T) {
		page, body, w := runLogin(t, c, "deny")
		if !errors.Is(w.err, oauth.ErrAccessDenied) {
			t.Fatalf("Wait: %v, want ErrAccessDenied", w.err)
		}
		if page.StatusCode != 400 || !strings.Contains(body, "Sign-in failed") || strings.Contains(body, "denied") {
			t.Fatalf("browser page: status %d", page.StatusCode)
		}
	})
}
