package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// maxBody caps every response this package reads: metadata, token and
// revocation responses (C3, C14).
const maxBody = 1 << 20

// maxRedirects caps same-host redirects on a metadata fetch.
const maxRedirects = 5

// isLoopbackHost reports whether a URL hostname (without brackets) is a
// loopback IP literal or "localhost".
func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// secureURL parses an absolute URL that is https, or http on a loopback
// host, with no user info and no fragment.
func secureURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, fmt.Errorf("%w: not an absolute URL without user info or fragment: %q", ErrInsecureURL, sanitize(raw, 256))
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
	default:
		return nil, fmt.Errorf("%w: %q", ErrInsecureURL, sanitize(raw, 256))
	}
	return u, nil
}

// statusError is a non-200 answer to a GET.
type statusError struct{ status int }

func (e *statusError) Error() string { return fmt.Sprintf("oauth: HTTP status %d", e.status) }

// safeClient returns a copy of hc whose redirects stay on the first
// request's host and on secure URLs (C3).
func safeClient(hc *http.Client) *http.Client {
	c := *hc
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("%w: more than %d redirects", ErrRedirect, maxRedirects)
		}
		if !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
			return fmt.Errorf("%w: to another host", ErrRedirect)
		}
		if _, err := secureURL(req.URL.String()); err != nil {
			return fmt.Errorf("%w: %w", ErrRedirect, err)
		}
		return nil
	}
	return &c
}

// noRedirectClient returns a copy of hc that never follows a redirect, so a
// form carrying a code or a token is never resent elsewhere.
func noRedirectClient(hc *http.Client) *http.Client {
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// getJSON fetches a public JSON document from a secure URL into v. A
// non-200 status is a *statusError.
func getJSON(ctx context.Context, hc *http.Client, raw string, v any) error {
	if _, err := secureURL(raw); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return fmt.Errorf("oauth: GET %s: %w", raw, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := safeClient(hc).Do(req)
	if err != nil {
		return fmt.Errorf("oauth: GET %s: %w", raw, err)
	}
	defer resp.Body.Close()
	body, err := readCapped(resp)
	if err != nil {
		return fmt.Errorf("oauth: GET %s: %w", raw, err)
	}
	if resp.StatusCode != http.StatusOK {
		return &statusError{resp.StatusCode}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %s is not a JSON object", ErrBadMetadata, raw)
	}
	return nil
}

// readCapped reads a response body of at most maxBody bytes.
func readCapped(resp *http.Response) ([]byte, error) {
	if resp.ContentLength > maxBody {
		return nil, ErrTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("oauth: read response: %w", err)
	}
	if len(b) > maxBody {
		return nil, ErrTooLarge
	}
	return b, nil
}

// isClientError reports whether err is a 4xx answer, after which discovery
// tries the next well-known URL.
func isClientError(err error) bool {
	var se *statusError
	return errors.As(err, &se) && se.status >= 400 && se.status < 500
}
