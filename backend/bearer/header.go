package bearer

import (
	"net/http"
	"strings"
)

// MaxTokenSize is the largest token accepted, checked before any decoding.
const MaxTokenSize = 8 << 10

// FromRequest returns the bearer token in the request's Authorization
// header. It never looks at the query string or the body.
//
// The scheme name is matched case-insensitively (RFC 7235). Two
// Authorization headers, another scheme, an empty token or a value with
// spaces give ErrMalformedHeader; no header gives ErrNoToken.
func FromRequest(r *http.Request) (string, error) {
	tok, scheme, err := Credentials(r)
	if err == nil && scheme != SchemeBearer {
		return "", ErrMalformedHeader
	}
	return tok, err
}

// The authorization schemes Credentials reads.
const (
	SchemeBearer = "Bearer"
	SchemeDPoP   = "DPoP" // RFC 9449 §7.1
)

// Credentials returns the token in the request's Authorization header and
// its scheme, SchemeBearer or SchemeDPoP (matched case-insensitively),
// with FromRequest's checks.
func Credentials(r *http.Request) (tok, scheme string, err error) {
	vals := r.Header.Values("Authorization")
	switch len(vals) {
	case 0:
		return "", "", ErrNoToken
	case 1:
	default:
		return "", "", ErrMalformedHeader
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	switch {
	case !ok:
		return "", "", ErrMalformedHeader
	case strings.EqualFold(scheme, SchemeBearer):
		scheme = SchemeBearer
	case strings.EqualFold(scheme, SchemeDPoP):
		scheme = SchemeDPoP
	default:
		return "", "", ErrMalformedHeader
	}
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", "", ErrMalformedHeader
	}
	if len(tok) > MaxTokenSize {
		return "", "", invalid("token too large")
	}
	if !isToken68(tok) {
		return "", "", ErrMalformedHeader
	}
	return tok, scheme, nil
}

// isToken68 reports whether s uses only the token68 alphabet of RFC 7235.
func isToken68(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=':
		default:
			return false
		}
	}
	return true
}
