package oauth

import (
	"slices"
	"strings"
)

// Challenge is a parsed RFC 6750 Bearer challenge from WWW-Authenticate:
// what a resource server (the backend, an MCP server) says in a 401 or 403.
type Challenge struct {
	Error            string
	Description      string
	Scope            []string
	ResourceMetadata string
	// DPoP is set when the response challenged with DPoP too (or only):
	// RFC 9449 §7.1. Its error, description and scope are taken when the
	// Bearer challenge has no error (a request made with DPoP); DPoPAlgs
	// are its algs.
	DPoP     bool
	DPoPAlgs []string
}

// maxChallenge bounds the header length parsed.
const maxChallenge = 8 << 10

// ParseChallenge returns the Bearer challenge among the header values,
// merged with the DPoP one if there is one (see Challenge.DPoP), and false
// if there is neither. Parameters are auth-params of RFC 7235: token or
// quoted-string values; unknown ones are ignored, malformed input stops the
// parse with what was read so far.
func ParseChallenge(values []string) (Challenge, bool) {
	var bearer, dp map[string]string
	for _, v := range values {
		if len(v) > maxChallenge {
			continue
		}
		b, d := parseOne(v)
		if bearer == nil {
			bearer = b
		}
		if dp == nil {
			dp = d
		}
	}
	switch {
	case bearer == nil && dp == nil:
		return Challenge{}, false
	case dp == nil:
		return fromParams(bearer), true
	}
	c := fromParams(dp)
	if bearer != nil {
		if b := fromParams(bearer); b.Error != "" || c.Error == "" {
			c.Error, c.Description, c.Scope = b.Error, b.Description, b.Scope
		}
		if rm := bearer["resource_metadata"]; rm != "" {
			c.ResourceMetadata = rm
		}
	}
	c.DPoP, c.DPoPAlgs = true, ScopeTokens(strings.Fields(dp["algs"]))
	return c, true
}

// parseOne returns the parameters of the first Bearer and the first DPoP
// challenge in v, nil for one that is not there.
func parseOne(v string) (bearer, dp map[string]string) {
	s := strings.TrimLeft(v, " \t,")
	for s != "" {
		scheme, rest := cutToken(s)
		if scheme == "" {
			return
		}
		params, next := parseParams(rest)
		switch {
		case strings.EqualFold(scheme, "Bearer") && bearer == nil:
			bearer = params
		case strings.EqualFold(scheme, "DPoP") && dp == nil:
			dp = params
		}
		s = strings.TrimLeft(next, " \t,")
	}
	return
}

func fromParams(p map[string]string) Challenge {
	c := Challenge{
		Error:            p["error"],
		Description:      p["error_description"],
		ResourceMetadata: p["resource_metadata"],
	}
	c.Scope = ScopeTokens(strings.Fields(p["scope"]))
	return c
}

// maxScopes bounds how many scopes a challenge or a metadata document can
// make a sign-in ask for.
const maxScopes = 64

// ScopeTokens returns the scopes that are RFC 6749 §3.3 scope-tokens
// (printable ASCII but space, '"' and '\', at most 256 bytes), the first
// maxScopes of them, without repeats; nil if none is. Scopes from a
// resource (a challenge, its metadata's scopes_supported) go into the
// authorization URL and the logs: nothing else may.
func ScopeTokens(scopes []string) []string {
	var out []string
	for _, s := range scopes {
		if len(out) == maxScopes {
			break
		}
		if isScopeToken(s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func isScopeToken(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// parseParams reads name=value pairs until a token that starts the next
// challenge (a token not followed by '='), returning that remainder.
func parseParams(s string) (map[string]string, string) {
	p := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t,")
		name, rest := cutToken(s)
		rest = strings.TrimLeft(rest, " \t")
		if name == "" || !strings.HasPrefix(rest, "=") {
			return p, s
		}
		rest = strings.TrimLeft(rest[1:], " \t")
		var val string
		var ok bool
		if strings.HasPrefix(rest, `"`) {
			val, rest, ok = cutQuoted(rest)
		} else {
			val, rest = cutToken(rest)
			ok = val != ""
		}
		if !ok {
			return p, ""
		}
		k := strings.ToLower(name)
		if _, dup := p[k]; !dup {
			p[k] = val
		}
		s = rest
	}
}

func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~/", c) >= 0
}

func cutToken(s string) (tok, rest string) {
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

// cutQuoted reads a quoted-string starting at s[0] == '"'.
func cutQuoted(s string) (val, rest string, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 >= len(s) {
				return "", "", false
			}
			i++
			b.WriteByte(s[i])
		case '"':
			return b.String(), s[i+1:], true
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false
}
