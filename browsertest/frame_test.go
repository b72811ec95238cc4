package browsertest

import (
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

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
