package authserver

import (
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// mintAccessToken signs an RFC 9068 style access token for g, with scopes
// (possibly narrowed from g.scopes) and aud = g.resource. It returns the
// token and its jti.
func (s *Server) mintAccessToken(g grant, scopes []string, now time.Time) (string, string, error) {
	jti := randomString(16)
	if s.cfg.TokenFormat == TokenOpaque {
		return "kr_at_" + randomString(32), jti, nil // no dots: never taken for a JWT
	}
	claims := jwt.MapClaims{
		"iss":       s.cfg.Issuer,
		"sub":       g.user,
		"aud":       g.resource,
		"exp":       now.Add(s.cfg.TokenTTL).Unix(),
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"jti":       jti,
		"client_id": g.clientID,
		"scope":     strings.Join(scopes, " "),
	}
	if g.jkt != "" {
		claims["cnf"] = map[string]string{"jkt": g.jkt} // RFC 9449 §6.1
	}
	t := jwt.NewWithClaims(s.signer.method, claims)
	t.Header["typ"] = "at+jwt"
	if s.signer.kid != "" {
		t.Header["kid"] = s.signer.kid
	}
	signed, err := t.SignedString(s.signer.key())
	if err != nil {
		return "", "", err
	}
	return signed, jti, nil
}
