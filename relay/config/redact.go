package config

import "strings"

// RedactURL returns a configured URL as it may be printed: its scheme,
// host and path, with *** in place of the userinfo, the query and the
// fragment, which is where API keys and passwords are put
// ("https://user:pw@host/mcp?api_key=k" becomes "https://***@host/mcp?***").
//
// It never fails: raw need not be a valid URL. Where the parts cannot be
// told apart (a password holding an unescaped '/', '?' or '#'), it hides
// more rather than show part of a password, down to the scheme alone.
// Every message, log line and report that shows a configured URL passes
// it through here; the value used for requests is never changed by it.
func RedactURL(raw string) string {
	scheme, rest := "", raw
	if i := strings.Index(raw, "://"); i > 0 && isScheme(raw[:i]) {
		scheme, rest = raw[:i+3], raw[i+3:]
	}
	hadAt := strings.Contains(rest, "@")
	user := ""
	if at := strings.LastIndexByte(rest[:cut(rest, "?#")], '@'); at >= 0 {
		user, rest = "***@", rest[at+1:] // the userinfo, or more
	}
	if hadAt && !isHostPort(rest[:cut(rest, "/?#")]) {
		return scheme + "***" // an '@' in what looks like a query may end a password
	}
	if i := cut(rest, "?#"); i < len(rest) {
		return scheme + user + rest[:i] + rest[i:i+1] + "***"
	}
	return scheme + user + rest
}

// cut is the index of the first of chars in s, or len(s).
func cut(s, chars string) int {
	if i := strings.IndexAny(s, chars); i >= 0 {
		return i
	}
	return len(s)
}

// isScheme reports whether s is an RFC 3986 scheme: a letter, then
// letters, digits, '+', '-' or '.'.
func isScheme(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// isHostPort reports whether s can be an authority without userinfo: a
// registered name, IPv4 or bracketed IPv6 literal, and an optional numeric
// port. Anything else (user:password) is not shown as a host.
func isHostPort(s string) bool {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		host, port = s[1:end], s[end+1:]
		if port != "" && port[0] != ':' {
			return false
		}
		for _, r := range host { // an IPv6 literal: hex digits, ':' and '.' (no zone)
			if !strings.ContainsRune("0123456789abcdefABCDEF:.", r) {
				return false
			}
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i:]
	}
	port = strings.TrimPrefix(port, ":")
	for _, r := range port {
		if r < '0' || r > '9' {
			return false
		}
	}
	for _, r := range host {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("-._~%:", r) && (r != ':' || strings.HasPrefix(s, "[")):
		default:
			return false
		}
	}
	return true
}
