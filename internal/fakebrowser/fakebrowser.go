// Package fakebrowser drives keyrelay's built-in authorization server the
// way a person in a browser would, over plain HTTP: open the authorization
// URL, sign in, allow or deny consent, and follow the redirect to the
// relay's loopback callback.
//
// It exists for tests and the scripted demo only. It understands the
// authorization server's own login and consent forms and nothing else; the
// real-browser tests use Chromium instead.
package fakebrowser

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Options says how to answer the pages.
type Options struct {
	User, Password string
	Deny           bool // press Deny on the consent page
}

// Result is where the flow ended.
type Result struct {
	// Redirect is the final redirect URL the authorization server sent
	// (the relay's callback with code or error).
	Redirect *url.URL
	// CallbackStatus is the status the callback answered, 0 if not called.
	CallbackStatus int
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	hiddenIn   = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)
)

// Login runs the flow from authURL. If the final redirect is to a loopback
// host, it is followed too, as a browser would.
func Login(ctx context.Context, authURL string, o Options) (*Result, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	page, loc, err := get(ctx, c, authURL)
	if err != nil {
		return nil, err
	}
	if loc == nil {
		if page, err = post(ctx, c, page, url.Values{"username": {o.User}, "password": {o.Password}}); err != nil {
			return nil, fmt.Errorf("fakebrowser: login: %w", err)
		}
		action := "allow"
		if o.Deny {
			action = "deny"
		}
		if loc, err = submitConsent(ctx, c, page, action); err != nil {
			return nil, err
		}
	}
	res := &Result{Redirect: loc}
	if isLoopback(loc) {
		resp, err := doReq(ctx, c, http.MethodGet, loc.String(), nil)
		if err != nil {
			return res, fmt.Errorf("fakebrowser: callback: %w", err)
		}
		res.CallbackStatus = resp.StatusCode
	}
	return res, nil
}

// page is a fetched HTML page and its URL.
type page struct {
	url  *url.URL
	body string
}

// get follows same-origin redirects until an HTML page, or returns the
// first redirect to another origin (the callback).
func get(ctx context.Context, c *http.Client, u string) (*page, *url.URL, error) {
	for i := 0; i < 10; i++ {
		resp, err := doReq(ctx, c, http.MethodGet, u, nil)
		if err != nil {
			return nil, nil, err
		}
		next, p, done, err := step(resp)
		if err != nil || done {
			return p, next, err
		}
		u = next.String()
	}
	return nil, nil, errors.New("fakebrowser: too many redirects")
}

// step reads one response: a page, a redirect within the origin (continue)
// or a redirect elsewhere (done).
func step(resp *http.Response) (next *url.URL, p *page, done bool, err error) {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 == 3 {
		loc, err := resp.Location()
		if err != nil {
			return nil, nil, true, err
		}
		if loc.Host != resp.Request.URL.Host {
			return loc, nil, true, nil
		}
		return loc, nil, false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, true, fmt.Errorf("fakebrowser: %s answered %d: %s", resp.Request.URL.Path, resp.StatusCode, text(string(b)))
	}
	return nil, &page{url: resp.Request.URL, body: string(b)}, true, nil
}

// post submits the page's form with its hidden fields plus extra.
func post(ctx context.Context, c *http.Client, p *page, extra url.Values) (*page, error) {
	loc, err := submit(ctx, c, p, extra)
	if err != nil {
		return nil, err
	}
	if loc.Host != p.url.Host {
		return nil, fmt.Errorf("fakebrowser: unexpected redirect off the server")
	}
	next, _, err := get(ctx, c, loc.String())
	if err != nil {
		return nil, err
	}
	if strings.Contains(next.body, `class="error"`) {
		return nil, errors.New("fakebrowser: the server refused the sign-in")
	}
	return next, nil
}

func submitConsent(ctx context.Context, c *http.Client, p *page, action string) (*url.URL, error) {
	if !strings.Contains(p.body, `id="allow"`) {
		return nil, fmt.Errorf("fakebrowser: expected the consent page, got: %s", text(p.body))
	}
	return submit(ctx, c, p, url.Values{"action": {action}})
}

func submit(ctx context.Context, c *http.Client, p *page, extra url.Values) (*url.URL, error) {
	m := formAction.FindStringSubmatch(p.body)
	if m == nil {
		return nil, fmt.Errorf("fakebrowser: no form on %s", p.url.Path)
	}
	action, err := p.url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return nil, err
	}
	form := url.Values{}
	for _, h := range hiddenIn.FindAllStringSubmatch(p.body, -1) {
		form.Set(h[1], html.UnescapeString(h[2]))
	}
	for k, v := range extra {
		form[k] = v
	}
	resp, err := doReq(ctx, c, http.MethodPost, action.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("fakebrowser: form post answered %d, want 303", resp.StatusCode)
	}
	return resp.Location()
}

func doReq(ctx context.Context, c *http.Client, method, u string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return c.Do(req)
}

func isLoopback(u *url.URL) bool {
	h := u.Hostname()
	return u.Scheme == "http" && (h == "127.0.0.1" || h == "::1" || h == "localhost")
}

var tags = regexp.MustCompile(`<[^>]*>|\s+`)

func text(s string) string {
	t := strings.TrimSpace(tags.ReplaceAllString(s, " "))
	if len(t) > 200 {
		t = t[:200]
	}
	return t
}

// Device completes a device-grant sign-in (RFC 8628) the way a person on
// another device would: open the verification URI, enter the user code,
// sign in, and allow (or deny) on the consent page.
func Device(ctx context.Context, verificationURI, userCode string, o Options) error {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	page, _, err := get(ctx, c, verificationURI)
	if err != nil {
		return err
	}
	if page == nil || !strings.Contains(page.body, `name="user_code"`) {
		return errors.New("fakebrowser: expected the device code page")
	}
	if page, err = post(ctx, c, page, url.Values{"user_code": {userCode}}); err != nil {
		return fmt.Errorf("fakebrowser: user code: %w", err)
	}
	if page, err = post(ctx, c, page, url.Values{"username": {o.User}, "password": {o.Password}}); err != nil {
		return fmt.Errorf("fakebrowser: login: %w", err)
	}
	action := "allow"
	if o.Deny {
		action = "deny"
	}
	loc, err := submitConsent(ctx, c, page, action)
	if err != nil {
		return err
	}
	if loc.Host == page.url.Host {
		_, _, err = get(ctx, c, page.url.ResolveReference(loc).String())
	}
	return err
}
