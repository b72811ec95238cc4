package bearer

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// claims is the decoded payload of an access token. Scopes come from the
// RFC 9068 "scope" string, or from "scp" (a string or an array), which some
// identity providers (Okta, Entra ID) use instead.
type claims struct {
	jwt.RegisteredClaims
	Scope    string          `json:"scope,omitempty"`
	Scp      json.RawMessage `json:"scp,omitempty"`
	ClientID string          `json:"client_id,omitempty"`
	Azp      string          `json:"azp,omitempty"`
}

func (c *claims) scopes() []string {
	if c.Scope != "" {
		return strings.Fields(c.Scope)
	}
	if len(c.Scp) == 0 {
		return nil
	}
	var list []string
	if json.Unmarshal(c.Scp, &list) == nil {
		return list
	}
	var s string
	if json.Unmarshal(c.Scp, &s) == nil {
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

func tokenFrom(c *claims, kid string) *Token {
	t := &Token{
		Subject:  c.Subject,
		Issuer:   c.Issuer,
		Audience: []string(c.Audience),
		ClientID: c.ClientID,
		Scopes:   c.scopes(),
		ID:       c.ID,
		KeyID:    kid,
	}
	if t.ClientID == "" {
		t.ClientID = c.Azp
	}
	if c.IssuedAt != nil {
		t.IssuedAt = c.IssuedAt.Time
	}
	if c.ExpiresAt != nil {
		t.Expiry = c.ExpiresAt.Time
	}
	return t
}
