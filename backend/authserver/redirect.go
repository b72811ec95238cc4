package authserver

import (
	"net/url"
	"strconv"
	"strings"
)

// isLoopbackHost reports whether h (a URL hostname, without brackets) is a
// loopback IP literal in its canonical spelling. "localhost" is not one
// (RFC 8252 §8.3).
func isLoopbackHost(h string) bool { return h == "127.0.0.1" || h == "::1" }

// matchRedirect reports whether the requested redirect URI matches the
// registered one. A registered loopback URI (http, 127.0.0.1 or [::1])
// matches the same scheme, host, path and query with any port
// (RFC 8252 §7.3); any other URI must match exactly.
func matchRedirect(registered, requested string) bool {
	if requested == "" || len(requested) > 2048 || strings.ContainsAny(requested, "#\\") {
		return false
	}
	if registered == requested {
		return true
	}
	reg, err := url.Parse(registered)
	if err != nil || !isLoopbackURL(reg) {
		return false
	}
	req, err := url.Parse(requested)
	if err != nil || !isLoopbackURL(req) || !validPort(req.Port()) {
		return false
	}
	return req.Hostname() == reg.Hostname() &&
		req.EscapedPath() == reg.EscapedPath() && req.RawQuery == reg.RawQuery
}

// isLoopbackURL: http scheme, loopback IP host, no user info, no fragment,
// no opaque part.
func isLoopbackURL(u *url.URL) bool {
	return u.Scheme == "http" && isLoopbackHost(u.Hostname()) && u.User == nil &&
		u.Opaque == "" && u.Fragment == "" && !u.ForceQuery
}

// validPort accepts "" or a canonical decimal port in 1..65535.
func validPort(p string) bool {
	if p == "" {
		return true
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == p
}

// clientRedirect returns the requested redirect URI if it matches one of
// the client's.
func clientRedirect(c Client, requested string) (string, bool) {
	for _, r := range c.RedirectURIs {
		if matchRedirect(r, requested) {
			return requested, true
		}
	}
	return "", false
}

// withParams appends query parameters to a redirect URI that matched.
func withParams(redirectURI string, params url.Values) string {
	u, err := url.Parse(redirectURI)
	if err != nil {
		return redirectURI // unreachable: matched URIs parse
	}
	q := u.Query()
	for k, vs := range params {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}
