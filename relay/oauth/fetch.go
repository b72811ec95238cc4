package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
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

// statusError is a non-200 answer to a GET. A 404 is ErrNotFound.
type statusError struct{ status int }

func (e *statusError) Error() string { return fmt.Sprintf("oauth: HTTP status %d", e.status) }

// Is makes a 404 ErrNotFound.
func (e *statusError) Is(target error) bool {
	return target == ErrNotFound && e.status == http.StatusNotFound
}

// ErrNotFound is a metadata URL that answered 404. Discovery that found no
// document wraps it only when every URL it tried answered 404: the server
// publishes none, as opposed to one it failed to serve.
var ErrNotFound = errors.New("oauth: HTTP status 404")

// errNotJSON is a metadata answer whose Content-Type is not JSON, with
// ErrBadMetadata; its body is not read.
var errNotJSON = errors.New("not JSON")

// metadataTimeout bounds one metadata fetch, body included, whatever the
// HTTP client's own timeout (RELAY_AUTH_TIMEOUT, 30 s by default): a
// server whose body never ends must not hold a request for that long.
var metadataTimeout = 10 * time.Second // a var for tests

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
// non-200 status is a *statusError; a Content-Type that is not JSON is
// ErrBadMetadata, before any of the body is read (a server answering every GET
// with an event stream that never ends must not hold discovery). The whole
// fetch takes at most metadataTimeout, and the body at most maxBody bytes.
func getJSON(ctx context.Context, hc *http.Client, raw string, v any) error {
	if _, err := secureURL(raw); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, metadataTimeout)
	defer cancel()
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
	if resp.StatusCode != http.StatusOK {
		return &statusError{resp.StatusCode}
	}
	if ct := resp.Header.Get("Content-Type"); !jsonType(ct) {
		return fmt.Errorf("%w: %w: %s answered %q", ErrBadMetadata, errNotJSON, sanitize(raw, 256), sanitize(ct, 64))
	}
	body, err := readCapped(resp)
	if err != nil {
		return fmt.Errorf("oauth: GET %s: %w", raw, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %s is not a JSON object", ErrBadMetadata, raw)
	}
	return nil
}

// jsonType reports whether a metadata answer's Content-Type may hold its
// JSON document: application/json or a +json type (RFC 8414 §3.2, RFC 9728
// §3.2 and OpenID Connect Discovery §4.2 all say application/json), with
// any parameters. Two more are tolerated, because servers that forget to
// set the type send them and other MCP clients accept them: none at all,
// and text/plain (what Go's net/http sniffs for a JSON body). Everything
// else, text/event-stream and text/html first, is refused unread.
func jsonType(ct string) bool {
	if strings.TrimSpace(ct) == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "text/plain" ||
		(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
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
