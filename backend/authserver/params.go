package authserver

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

const (
	maxFormBytes = 64 << 10 // token, revoke and device_authorization bodies
	maxPageForm  = 16 << 10 // login, consent and device page forms
	maxState     = 1024
)

// readForm reads an application/x-www-form-urlencoded body of at most max
// bytes. Query parameters, repeated parameters and other content types are
// refused (RFC 6749 §3.2). Empty values count as absent.
func readForm(w http.ResponseWriter, r *http.Request, max int64) (url.Values, *oauthError) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, invalidRequest("content type must be application/x-www-form-urlencoded")
	}
	if r.URL.RawQuery != "" {
		return nil, invalidRequest("parameters must be in the body, not the URL")
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		return nil, invalidRequest("request body too large or unreadable")
	}
	return parseForm(string(b))
}

// parseForm parses a form body, refusing repeated and malformed parameters.
func parseForm(body string) (url.Values, *oauthError) {
	v, err := url.ParseQuery(body)
	if err != nil {
		return nil, invalidRequest("malformed form body")
	}
	if hasRepeats(v) {
		return nil, errRepeated
	}
	for k, vs := range v {
		if vs[0] == "" {
			delete(v, k)
		}
	}
	return v, nil
}

func hasRepeats(v url.Values) bool {
	for _, vs := range v {
		if len(vs) > 1 {
			return true
		}
	}
	return false
}

// validScopeToken: RFC 6749 §3.3 scope-token characters.
func validScopeToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return true
}

// parseScope splits a scope parameter, drops duplicates and checks each
// scope against allowed. An empty parameter yields def.
func parseScope(param string, allowed, def []string) ([]string, *oauthError) {
	if param == "" {
		return append([]string{}, def...), nil
	}
	if len(param) > 1024 {
		return nil, errInvalidScope
	}
	var out []string
	for _, sc := range strings.Split(param, " ") {
		if !validScopeToken(sc) || !slices.Contains(allowed, sc) {
			return nil, errInvalidScope
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// checkResource validates an RFC 8707 resource and returns the configured
// spelling, which becomes the aud. "" selects Resources[0]. A trailing "/"
// is tolerated when the configured resource has an empty path, as the two
// are the same URI (RFC 3986 §6.2.3).
func (s *Server) checkResource(raw string) (string, *oauthError) {
	if raw == "" {
		return s.cfg.Resources[0], nil
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || strings.Contains(raw, "#") || len(raw) > 2048 {
		return "", errInvalidTarget
	}
	for _, r := range s.cfg.Resources {
		if raw == r || (raw == r+"/" && emptyPath(r)) {
			return r, nil
		}
	}
	return "", errInvalidTarget
}

// validChallenge: exactly 43 base64url characters, the length of a
// SHA-256 digest (RFC 7636 §4.2).
func validChallenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	for i := 0; i < len(c); i++ {
		if !isB64URL(c[i]) {
			return false
		}
	}
	return true
}

func isB64URL(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

func emptyPath(r string) bool {
	u, err := url.Parse(r)
	return err == nil && u.Host != "" && u.Path == "" && u.RawQuery == ""
}

// validVerifier: 43 to 128 unreserved characters (RFC 7636 §4.1).
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !isB64URL(c) && c != '.' && c != '~' {
			return false
		}
	}
	return true
}

// pkceMatch checks S256(verifier) against the stored challenge in constant
// time.
func pkceMatch(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

// allowsGrant reports whether the client may use grant type gt.
func (c Client) allowsGrant(gt string) bool {
	return c.grants == nil || slices.Contains(c.grants, gt)
}

func joinScopes(s []string) string { return strings.Join(s, " ") }
