package oauth

import (
	"crypto/rand"
	"encoding/base64"

	"golang.org/x/oauth2"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// pkce is one login attempt's proof key (RFC 7636), S256 only (C18).
type pkce struct {
	verifier  secret.Value // 32 random bytes, base64url: 43 characters
	challenge string       // BASE64URL(SHA256(verifier))
}

// newPKCE makes a fresh verifier with x/oauth2's helpers.
func newPKCE() pkce {
	v := oauth2.GenerateVerifier()
	return pkce{verifier: secret.New(v), challenge: oauth2.S256ChallengeFromVerifier(v)}
}

// authOption puts the challenge on the authorization URL.
func (p pkce) authOption() oauth2.AuthCodeOption {
	return oauth2.S256ChallengeOption(p.verifier.Reveal())
}

// newState returns 32 random bytes, base64url: the CSRF binding between
// the authorization request and the callback.
func newState() secret.Value {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics instead)
	return secret.New(base64.RawURLEncoding.EncodeToString(b))
}
