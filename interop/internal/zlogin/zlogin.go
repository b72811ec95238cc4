// Package zlogin signs a user in at the zitadel/oidc example OpenID
// provider the way a browser would: it opens the authorization URL, fills
// in the username form, and follows the redirects back to the client's
// redirect_uri. It knows the example provider's login page and nothing
// else.
package zlogin

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
)

// Result is where the login ended.
type Result struct {
	// Final is the last URL fetched: the redirect_uri with code and state
	// (or error) in its query.
	Final *url.URL
	// Status and Body are the redirect_uri's answer.
	Status int
	Body   string
}

// Login opens authURL, signs in as user with password, and follows the
// redirects until it reaches the redirect_uri named in authURL. If
// fetchCallback is false it stops before fetching the redirect_uri and
// returns its URL with Status 0 (for tests that collect the code
// themselves).
func Login(ctx context.Context, authURL, user, password string, fetchCallback bool) (*Result, error) {
	au, err := url.Parse(authURL)
	if err != nil {
		return nil, fmt.Errorf("authorization URL: %w", err)
	}
	redirect := au.Query().Get("redirect_uri")
	if redirect == "" {
		return nil, errors.New("authorization URL has no redirect_uri")
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	var final *url.URL
	c := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("too many redirects")
		}
		if isRedirect(req.URL, redirect) {
			final = req.URL
			if !fetchCallback {
				return http.ErrUseLastResponse
			}
		}
		return nil
	}}

	// 1. The authorization endpoint redirects to the login page.
	page, pageURL, err := get(ctx, c, authURL)
	if err != nil {
		return nil, err
	}
	action, id, err := parseLoginForm(page)
	if err != nil {
		return nil, fmt.Errorf("login page %s: %w", pageURL.Redacted(), err)
	}
	target, err := pageURL.Parse(action)
	if err != nil {
		return nil, fmt.Errorf("login form action %q: %w", action, err)
	}

	// 2. Post the form; the provider redirects to its callback, which
	// redirects to the client's redirect_uri with the code.
	form := url.Values{"username": {user}, "password": {password}, "id": {id}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("post login form: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if final == nil {
		// The provider showed the form again (wrong password) or an error.
		msg := ""
		if m := errorRE.FindStringSubmatch(string(body)); m != nil {
			msg = html.UnescapeString(strings.TrimSpace(m[1]))
		}
		return nil, fmt.Errorf("login did not reach the redirect_uri: %s at %s: %q", resp.Status, resp.Request.URL.Redacted(), msg)
	}
	res := &Result{Final: final}
	if fetchCallback {
		res.Status, res.Body = resp.StatusCode, string(body)
	}
	return res, nil
}

// isRedirect reports whether u is the redirect_uri (same scheme, host and
// path; the query carries the answer).
func isRedirect(u *url.URL, redirect string) bool {
	r, err := url.Parse(redirect)
	return err == nil && u.Scheme == r.Scheme && u.Host == r.Host && u.Path == r.Path
}

func get(ctx context.Context, c *http.Client, u string) (string, *url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", nil, fmt.Errorf("open authorization URL: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("authorization URL: %s at %s: %.300s", resp.Status, resp.Request.URL.Redacted(), b)
	}
	return string(b), resp.Request.URL, nil
}

var (
	formRE  = regexp.MustCompile(`(?is)<form\b[^>]*\baction="([^"]*)"`)
	inputRE = regexp.MustCompile(`(?is)<input\b[^>]*>`)
	attrRE  = regexp.MustCompile(`(?is)\b(name|value|type)="([^"]*)"`)
	errorRE = regexp.MustCompile(`(?is)<p\b[^>]*color:\s*red[^>]*>(.*?)</p>`)
)

// parseLoginForm returns the login form's action and its hidden id field.
func parseLoginForm(page string) (action, id string, err error) {
	m := formRE.FindStringSubmatch(page)
	if m == nil {
		return "", "", errors.New("no form with an action")
	}
	action = html.UnescapeString(m[1])
	for _, in := range inputRE.FindAllString(page, -1) {
		attrs := map[string]string{}
		for _, a := range attrRE.FindAllStringSubmatch(in, -1) {
			attrs[strings.ToLower(a[1])] = html.UnescapeString(a[2])
		}
		if attrs["name"] == "id" && strings.EqualFold(attrs["type"], "hidden") {
			id = attrs["value"]
		}
	}
	if id == "" {
		return "", "", errors.New("no hidden id field")
	}
	return action, id, nil
}
