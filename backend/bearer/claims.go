package bearer

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// claims is the decoded payload of an access token. Scopes come from the
// RFC 9068 "scope" string, or from "scp" (a string or an array), which some
// identity providers (Okta, Entra ID) use instead.
//
// The payload is read once, member by member, with the rules golang-jwt's
// RegisteredClaims had under encoding/json: a string claim may be a string
// or null, aud a string, an array of strings or null, and a date a JSON
// number that fits a float64. A claim of another type makes the token
// malformed.
type claims struct {
	Issuer, Subject, ID string
	Audience            []string
	ExpiresAt           date
	NotBefore           date
	IssuedAt            date
	Scope               string
	Scp                 string // raw JSON
	ClientID, Azp       string
	// JKT is cnf.jkt (RFC 9449 §6.1): the thumbprint of the DPoP key the
	// token is bound to.
	JKT string
	// malformed records a claim of the wrong type. It is reported only
	// once the whole payload has passed the checks of member, as when
	// golang-jwt decoded the payload after them.
	malformed bool
}

// date is a NumericDate claim; set is false when the claim is absent.
type date struct {
	time.Time
	set bool
}

// member checks one payload member and keeps the claims Validate reads.
func (c *claims) member(name, val string) error {
	switch name {
	case "nonce", "at_hash", "c_hash":
		// Claims only ID tokens carry (OpenID Connect Core §2, §3.3.2.11).
		// With BACKEND_AUDIENCE set to the client id, an ID token has the
		// right iss and aud; these claims are what tell it apart (B20).
		return invalid("an ID token is not an access token")
	case "exp":
		return c.setDate(name, val, &c.ExpiresAt)
	case "nbf":
		return c.setDate(name, val, &c.NotBefore)
	case "iat":
		return c.setDate(name, val, &c.IssuedAt)
	case "iss":
		c.setString(&c.Issuer, val)
	case "sub":
		c.setString(&c.Subject, val)
	case "jti":
		c.setString(&c.ID, val)
	case "scope":
		c.setString(&c.Scope, val)
	case "client_id":
		c.setString(&c.ClientID, val)
	case "azp":
		c.setString(&c.Azp, val)
	case "aud":
		c.setAudience(val)
	case "scp":
		c.Scp = val
	case "cnf":
		c.setConfirmation(val)
	default:
		if caseVariant(name) {
			return invalid("claim name in the wrong case")
		}
	}
	return nil
}

// setDate reads a NumericDate. Only a JSON number is accepted: golang-jwt
// also takes a numeric string.
func (c *claims) setDate(name, val string, dst *date) error {
	if !(val[0] == '-' || (val[0] >= '0' && val[0] <= '9')) {
		return invalid(name + " is not a number")
	}
	f, err := strconv.ParseFloat(val, 64)
	if err != nil {
		c.malformed = true
		return nil
	}
	// As jwt.NumericDate.UnmarshalJSON: fractional seconds, then
	// truncated to jwt.TimePrecision.
	round, frac := math.Modf(f)
	dst.Time = time.Unix(int64(round), int64(frac*1e9)).Truncate(jwt.TimePrecision)
	dst.set = true
	return nil
}

// setConfirmation reads cnf (RFC 7800), an object; its jkt member must be
// a non-empty string when present. Other confirmation methods (x5t#S256)
// are not understood here, and a token bound by one is refused: it must
// not be usable as a plain bearer token.
func (c *claims) setConfirmation(val string) {
	var cnf map[string]json.RawMessage
	if val == "null" || json.Unmarshal([]byte(val), &cnf) != nil || cnf == nil {
		c.malformed = true
		return
	}
	raw, ok := cnf["jkt"]
	if !ok || len(cnf) != 1 || json.Unmarshal(raw, &c.JKT) != nil || c.JKT == "" {
		c.malformed = true
	}
}

// setString reads a string claim; null leaves it empty.
func (c *claims) setString(dst *string, val string) {
	if val == "null" {
		return
	}
	s, ok := stringValue(val)
	c.malformed = c.malformed || !ok
	*dst = s
}

// setAudience reads aud as jwt.ClaimStrings did: a string, an array of
// strings, or null.
func (c *claims) setAudience(val string) {
	switch val[0] {
	case 'n':
	case '"':
		s, ok := unquote(val)
		c.malformed = c.malformed || !ok
		c.Audience = []string{s}
	case '[':
		var aud []string
		ok := elements(val, func(e string) bool {
			s, ok := stringValue(e)
			aud = append(aud, s)
			return ok
		})
		c.malformed = c.malformed || !ok
		c.Audience = aud
	default:
		c.malformed = true
	}
}

// readClaims are the payload members decoded above. encoding/json matched
// struct fields case-insensitively, so "ISS" or "Exp" used to be read as
// iss or exp, around the duplicate and numeric-date checks. A member whose
// name folds to one of these without being it is now refused.
var readClaims = [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "scp", "client_id", "azp", "cnf"}

func caseVariant(name string) bool {
	for _, c := range readClaims {
		if foldsTo(name, c) {
			return true
		}
	}
	return false
}

// foldsTo reports whether name equals the lower-case ASCII claim under
// encoding/json's folding: ASCII letters upper-cased, other runes mapped
// through unicode.ToUpper(unicode.ToLower(r)), so that "ſub" (long s) or
// "ıat" (dotless i) match too.
func foldsTo(name, claim string) bool {
	j := 0
	for _, r := range name {
		if r >= utf8.RuneSelf {
			r = unicode.ToUpper(unicode.ToLower(r))
		} else if 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		}
		if j >= len(claim) || r != rune(upperASCII(claim[j])) {
			return false
		}
		j++
	}
	return j == len(claim)
}

func upperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

func (c *claims) scopes() []string {
	if c.Scope != "" {
		return strings.Fields(c.Scope)
	}
	if len(c.Scp) == 0 {
		return nil
	}
	var list []string
	if json.Unmarshal([]byte(c.Scp), &list) == nil {
		return list
	}
	var s string
	if json.Unmarshal([]byte(c.Scp), &s) == nil {
		return strings.Fields(s)
	}
	return nil
}

// Token is what a valid access token says. It never holds the raw token.
type Token struct {
	Subject  string
	Issuer   string
	Audience []string
	ClientID string
	Scopes   []string
	ID       string // jti
	KeyID    string // kid, for logs
	IssuedAt time.Time
	Expiry   time.Time
	// JKT is the thumbprint of the DPoP key the token is bound to (its
	// cnf.jkt), "" for a bearer token. A bound token is usable only with a
	// proof of that key (DPoP.Check).
	JKT string
}

// HasScope reports whether the token grants scope s.
func (t *Token) HasScope(s string) bool {
	for _, have := range t.Scopes {
		if have == s {
			return true
		}
	}
	return false
}

// Missing returns the scopes in want that the token does not grant.
func (t *Token) Missing(want []string) []string {
	var out []string
	for _, s := range want {
		if !t.HasScope(s) {
			out = append(out, s)
		}
	}
	return out
}

func tokenFrom(c *claims, kid kidHeader) *Token {
	t := &Token{
		Subject:  c.Subject,
		Issuer:   c.Issuer,
		Audience: slices.Clone([]string(c.Audience)),
		ClientID: c.ClientID,
		Scopes:   c.scopes(),
		ID:       c.ID,
		KeyID:    kid.value,
		JKT:      c.JKT,
	}
	if t.ClientID == "" {
		t.ClientID = c.Azp
	}
	if c.IssuedAt.set {
		t.IssuedAt = c.IssuedAt.Time
	}
	if c.ExpiresAt.set {
		t.Expiry = c.ExpiresAt.Time
	}
	return t
}
