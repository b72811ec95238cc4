package browsertest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/keyrelay/keyrelay/backend/authserver"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// flow is one authorization request to a fresh backend, whose redirect the
// catcher catches, with Chromium to open it in: the client config, its PKCE
// verifier and state, and the URL the browser opens. ctx bounds the test;
// bctx is the browser's first tab.
type flow struct {
	ctx, bctx                context.Context
	be                       *backend
	md                       *authserver.Metadata
	c                        *catcher
	cfg                      *oauth2.Config
	verifier, state, authURL string
}

// newFlow starts the backend, the catcher and the browser, and builds the
// authorization URL the way the relay will: client "relay", loopback
// redirect to the catcher, PKCE S256, a random state and the backend as the
// RFC 8707 resource.
func newFlow(t *testing.T) *flow {
	t.Helper()
	chromiumPath(t) // skip (or fail under CI) before any work
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	be := startBackend(t)
	md := be.metadata(ctx, t)
	c := startCatcher(t)
	f := &flow{
		ctx: ctx, be: be, md: md, c: c,
		cfg: &oauth2.Config{
			ClientID:    "relay",
			RedirectURL: c.RedirectURI,
			Endpoint: oauth2.Endpoint{
				AuthURL:   md.AuthorizationEndpoint,
				TokenURL:  md.TokenEndpoint,
				AuthStyle: oauth2.AuthStyleInParams,
			},
		},
		verifier: oauth2.GenerateVerifier(),
		state:    rand.Text(),
	}
	f.authURL = f.cfg.AuthCodeURL(f.state,
		oauth2.S256ChallengeOption(f.verifier),
		oauth2.SetAuthURLParam("resource", be.URL))
	f.bctx = newBrowser(ctx, t)
	return f
}

// wantCallback checks the callback's query: each parameter of want has
// that value, or is absent for "". Values are not printed: they may be
// secrets.
func wantCallback(t *testing.T, q url.Values, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if q.Get(k) != v || v == "" && q.Has(k) {
			t.Errorf("callback parameter %s is not the one expected (present: %v)", k, q.Has(k))
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// signIn opens authURL in the browser, checks the login page, signs in and
// waits for the consent page. With shots set, it saves PREFIXlogin.png and
// PREFIXconsent.png there.
func signIn(bctx context.Context, t *testing.T, authURL string, be *backend, shots, prefix string) {
	t.Helper()
	if err := chromedp.Do(bctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("login")),
	); err != nil {
		t.Fatalf("login page: %v (at %s)", err, where(bctx))
	}
	if loc := where(bctx); !strings.HasPrefix(loc, be.URL+"/login") {
		t.Fatalf("login page is at %s, want %s/login", loc, be.URL)
	}
	if shots != "" {
		screenshot(bctx, t, shots, prefix+"login.png")
	}
	if err := chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.ID("username"), be.User),
		chromedp.SendKeys(chromedp.ID("password"), be.Password),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("allow")),
		chromedp.WaitVisible(chromedp.ID("deny")),
	); err != nil {
		t.Fatalf("sign in and reach consent: %v (at %s)", err, where(bctx))
	}
	if loc := where(bctx); !strings.HasPrefix(loc, be.URL+"/consent") {
		t.Fatalf("consent page is at %s, want %s/consent", loc, be.URL)
	}
	// The consent page names the user it will act as.
	text, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("main, body")))
	testkit.NoErr(t, err, "consent text")
	testkit.Contains(t, "consent page does not name the user", text, be.User)
	if shots != "" {
		screenshot(bctx, t, shots, prefix+"consent.png")
	}
}

// where returns the browser's current URL without its query, so a failure
// message never carries a code or state.
func where(bctx context.Context) string {
	loc, err := chromedp.Run(bctx, chromedp.Location())
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return stripQuery(loc)
}

// TestRealBrowserLoginConsentWhoami signs in as alice in headless Chromium
// on the authorization server's real pages, allows consent, catches the
// redirect on a loopback listener, exchanges the code with PKCE and the
// resource, and calls whoami with the access token.
func TestRealBrowserLoginConsentWhoami(t *testing.T) {
	f := newFlow(t)
	ctx, bctx, be, c := f.ctx, f.bctx, f.be, f.c
	if !f.md.AuthorizationResponseIssParameterSupported {
		t.Fatal("metadata does not advertise authorization_response_iss_parameter_supported")
	}
	signIn(bctx, t, f.authURL, be, "", "")
	testkit.NoErr(t, chromedp.Do(bctx, chromedp.Click(chromedp.ID("allow"))), "click allow")
	q := c.wait(ctx, t)

	// The browser followed the 303 and shows the catcher's page.
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`#result[data-outcome="allowed"]`))); err != nil {
		t.Fatalf("success page: %v (at %s)", err, where(bctx))
	}
	if loc := where(bctx); loc != c.RedirectURI {
		t.Errorf("browser ended at %s, want %s", loc, c.RedirectURI)
	}

	wantCallback(t, q, map[string]string{"state": f.state, "iss": be.URL, "error": ""}) // iss: RFC 9207
	code := q.Get("code")
	if code == "" {
		t.Fatal("callback has no code")
	}

	tok, err := f.cfg.Exchange(ctx, code,
		oauth2.VerifierOption(f.verifier),
		oauth2.SetAuthURLParam("resource", be.URL))
	testkit.NoErr(t, err, "exchange the code")
	if tok.AccessToken == "" || !strings.EqualFold(tok.TokenType, "bearer") {
		t.Fatalf("token response: type %q, access token present %v", tok.TokenType, tok.AccessToken != "")
	}

	status, res, err := be.callTool(t, "whoami", tok.AccessToken)
	testkit.NoErr(t, err, "whoami")
	if status != http.StatusOK || res.IsError || len(res.Content) == 0 {
		t.Fatalf("whoami: status %d, isError %v, %d content items", status, res.IsError, len(res.Content))
	}
	var who whoami
	testkit.NoErr(t, json.Unmarshal([]byte(res.Content[0].Text), &who), "whoami text is not JSON")
	if who.Subject != "alice" || who.ClientID != "relay" || who.Issuer != be.URL {
		t.Fatalf("whoami = subject %q, client %q, issuer %q; want alice, relay, %s", who.Subject, who.ClientID, who.Issuer, be.URL)
	}

	// The code is single-use: a second exchange fails.
	if _, err := f.cfg.Exchange(ctx, code, oauth2.VerifierOption(f.verifier),
		oauth2.SetAuthURLParam("resource", be.URL)); err == nil {
		t.Error("a second exchange of the same code succeeded")
	}
}

// TestRealBrowserDenyConsent signs in and presses Deny: the redirect carries
// error=access_denied, the request's state and the issuer, and no code.
func TestRealBrowserDenyConsent(t *testing.T) {
	f := newFlow(t)
	bctx := f.bctx
	signIn(bctx, t, f.authURL, f.be, "", "")
	testkit.NoErr(t, chromedp.Do(bctx, chromedp.Click(chromedp.ID("deny"))), "click deny")
	q := f.c.wait(f.ctx, t)
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`#result[data-outcome="refused"]`))); err != nil {
		t.Fatalf("refused page: %v (at %s)", err, where(bctx))
	}
	wantCallback(t, q, map[string]string{"error": "access_denied", "state": f.state, "iss": f.be.URL, "code": ""})
}

// TestRealBrowserLoginPageCannotBeFramed loads, in Chromium, a page from
// another origin (the catcher) that embeds two iframes: the backend's
// /healthz, which sends no anti-framing headers (the control), and the
// authorization URL, which leads to the login page. The control must load;
// the login page must be refused (X-Frame-Options: DENY and CSP
// frame-ancestors 'none'), leaving Chromium's error document in its place.
func TestRealBrowserLoginPageCannotBeFramed(t *testing.T) {
	f := newFlow(t)
	be, c, bctx := f.be, f.c, f.bctx
	c.setFrames(
		frameSpec{ID: "control", Src: be.URL + "/healthz"},
		frameSpec{ID: "framed", Src: f.authURL},
	)
	testkit.NoErr(t, chromedp.Do(bctx, chromedp.Navigate(c.URL+"/frame")), "framing page")

	// Poll the frame tree until both iframes have committed a document.
	var control, framed *cdp.Frame
	loaded := testkit.Eventually(15*time.Second, func() bool {
		res, err := chromedp.Call(bctx, page.GetFrameTree, cdp.Empty{})
		testkit.NoErr(t, err, "frame tree")
		control, framed = nil, nil
		for _, ch := range res.FrameTree.ChildFrames {
			switch ch.Frame.Name {
			case "control":
				control = ch.Frame
			case "framed":
				framed = ch.Frame
			}
		}
		return control != nil && framed != nil && committed(control) && committed(framed)
	})
	if !loaded {
		t.Fatalf("iframes did not load within 15s (control %v, framed %v)", control != nil, framed != nil)
	}

	// The control shows that a backend page can be framed here at all.
	if control.URL != be.URL+"/healthz" || control.UnreachableURL != "" {
		t.Fatalf("control iframe: URL %q, unreachable %q; want %s/healthz loaded", control.URL, control.UnreachableURL, be.URL)
	}
	// The login page is refused: Chromium commits its error document and
	// records the login URL as unreachable.
	if u, err := url.Parse(framed.URL); err == nil && u.Host == hostOf(be.URL) {
		t.Fatalf("the login page loaded inside an iframe: %s", stripQuery(framed.URL))
	}
	if framed.URL != "chrome-error://chromewebdata/" {
		t.Errorf("framed iframe URL = %q, want Chromium's error document", stripQuery(framed.URL))
	}
	if got := stripQuery(framed.UnreachableURL); got != be.URL+"/login" {
		t.Errorf("framed iframe unreachable URL = %q, want %s/login (the blocked page)", got, be.URL)
	}
}

// committed reports whether a frame has left its initial about:blank.
func committed(f *cdp.Frame) bool {
	return f.URL != "" && f.URL != "about:blank"
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// stripQuery drops the query and fragment, so messages carry no request id.
func stripQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "unparsable URL"
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}
