package transport

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrBadEndpoint refuses the message endpoint a legacy HTTP+SSE server
// names in its endpoint event. That event is the server's to write, and
// the proxy sends the token and the custom headers there, so it must be on
// the MCP URL's own origin: same scheme, host and port, no userinfo, no
// fragment. The endpoint is never followed when refused.
var ErrBadEndpoint = errors.New("mcphttp: refusing the MCP server's message endpoint")

// maxEndpoint bounds the endpoint event's data.
const maxEndpoint = 4 << 10

// messageEndpoint resolves the endpoint event's data (a relative or
// absolute URL) against the MCP URL and checks it. The error names the
// reason only: the endpoint's query holds the server's session id.
func messageEndpoint(target *url.URL, raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	refuse := func(why string) (*url.URL, error) { return nil, fmt.Errorf("%w: %s", ErrBadEndpoint, why) }
	switch {
	case raw == "":
		return refuse("it is empty")
	case len(raw) > maxEndpoint:
		return refuse("it is too long")
	case strings.Contains(raw, "#"):
		return refuse("it has a fragment")
	case strings.ContainsAny(raw, "\\ \t\r\n"):
		return refuse("it has a backslash or a space")
	}
	ref, err := url.Parse(raw)
	switch {
	case err != nil:
		return refuse("it is not a URL")
	case ref.Scheme != "" && !strings.EqualFold(ref.Scheme, "http") && !strings.EqualFold(ref.Scheme, "https"):
		return refuse("it is not an http(s) URL")
	case ref.Opaque != "":
		return refuse("it is not a hierarchical URL")
	case ref.User != nil:
		return refuse("it has userinfo")
	}
	u := target.ResolveReference(ref)
	switch {
	case !strings.EqualFold(u.Scheme, target.Scheme):
		return refuse("it has another scheme than the MCP URL")
	case !strings.EqualFold(u.Hostname(), target.Hostname()):
		return refuse("it is on another host than the MCP URL")
	case port(u) != port(target):
		return refuse("it is on another port than the MCP URL")
	}
	// The MCP URL's own spelling of the origin.
	u.Scheme, u.Host = target.Scheme, target.Host
	return u, nil
}

// port is u's port, the scheme's default when it names none.
func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// isEndpoint reports whether u is exactly the accepted endpoint: same
// scheme, host, escaped path and query, no userinfo. Not a prefix: a path
// below it, or another query, is another URL.
func isEndpoint(u, endpoint *url.URL) bool {
	return endpoint != nil && u.User == nil && strings.EqualFold(u.Scheme, endpoint.Scheme) &&
		strings.EqualFold(u.Host, endpoint.Host) && u.EscapedPath() == endpoint.EscapedPath() && u.RawQuery == endpoint.RawQuery
}
