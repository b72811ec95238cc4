package policy

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// A host pattern is one of:
//
//	example.com        that host, any port
//	example.com:8443   that host and port only
//	*.example.com      any subdomain of example.com (not example.com itself)
//	127.0.0.1, [::1]:9000
//
// Hosts compare case-insensitively. A URL without a port has its scheme's
// default port (443 for https, 80 for http).

// checkPattern refuses a pattern that is not one of the forms above.
func checkPattern(p string) error {
	host, port := splitPattern(p)
	bad := host == "" || strings.ContainsAny(host, "/?#@ ") || strings.Contains(p, "://") ||
		strings.Contains(strings.TrimPrefix(host, "*."), "*")
	if !bad && port != "" {
		for _, c := range port {
			bad = bad || c < '0' || c > '9'
		}
	}
	if bad {
		return fmt.Errorf("host pattern %q: want host, host:port or *.domain", p)
	}
	return nil
}

// splitPattern splits a pattern into its lowercase host and its port ("" if
// none).
func splitPattern(p string) (host, port string) {
	p = strings.ToLower(p)
	if h, pt, err := net.SplitHostPort(p); err == nil {
		return h, pt
	}
	return strings.TrimSuffix(strings.TrimPrefix(p, "["), "]"), ""
}

func matchAny(patterns []string, u *url.URL) bool {
	for _, p := range patterns {
		if Match(p, u) {
			return true
		}
	}
	return false
}

// Match reports whether u's host fits pattern.
func Match(pattern string, u *url.URL) bool {
	host, port := splitPattern(pattern)
	h := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if port != "" && port != effectivePort(u) {
		return false
	}
	if suffix, ok := strings.CutPrefix(host, "*."); ok {
		return strings.HasSuffix(h, "."+suffix) && len(h) > len(suffix)+1
	}
	return h == host
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}
