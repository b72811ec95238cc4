package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AssertionType is the client_assertion_type of private_key_jwt (RFC 7523
// §2.2).
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AssertionLifetime is how long a client assertion is valid: it is made
// for one request.
const AssertionLifetime = 60 * time.Second

// ErrClientKey means the client's private key is unusable. Its errors
// never hold key material.
var ErrClientKey = errors.New("client key")

// ClientKey is a parsed private_key_jwt key and the one algorithm it
// signs with.
type ClientKey struct {
	Signer crypto.Signer
	Alg    string // ES256, RS256 or EdDSA
}

// ParseClientKey reads a PEM private key (PKCS #8, or the SEC 1 "EC
// PRIVATE KEY" and PKCS #1 "RSA PRIVATE KEY" forms): EC P-256 signs with
// ES256, RSA of at least 2048 bits with RS256, Ed25519 with EdDSA. Any
// other key is refused.
func ParseClientKey(pemBytes []byte) (*ClientKey, error) {
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		return nil, fmt.Errorf("%w: not a PEM private key", ErrClientKey)
	}
	var key any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("%w: PEM block %q is not a private key", ErrClientKey, sanitize(b.Type, 40))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: the PEM private key does not parse", ErrClientKey)
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: EC key on %s; only P-256 (ES256) is supported", ErrClientKey, k.Curve.Params().Name)
		}
		return &ClientKey{Signer: k, Alg: "ES256"}, nil
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%w: RSA key of %d bits; at least 2048 are needed", ErrClientKey, k.N.BitLen())
		}
		return &ClientKey{Signer: k, Alg: "RS256"}, nil
	case ed25519.PrivateKey:
		return &ClientKey{Signer: k, Alg: "EdDSA"}, nil
	}
	return nil, fmt.Errorf("%w: unsupported key type %T; use EC P-256, RSA (2048 bits or more) or Ed25519", ErrClientKey, key)
}

// assertion signs a fresh client assertion for one request to endpoint
// (RFC 7523 §2.2 and §3): iss = sub = the client id; aud = the issuer
// identifier, as draft-ietf-oauth-rfc7523bis requires (the token endpoint
// as audience lets one server replay an assertion at another, and the
// MCP conformance suite checks the issuer); a short exp; a random jti, so
// the server can refuse a replay. The algorithm is the key's, and must be
// in the metadata's token_endpoint_auth_signing_alg_values_supported when
// the server publishes that list.
func (c *Client) assertion(endpoint string) (string, error) {
	k, err := ParseClientKey([]byte(c.ClientKey.Reveal()))
	if err != nil {
		return "", err
	}
	var algs []string
	aud := endpoint
	if c.Metadata != nil {
		algs = c.Metadata.TokenEndpointAuthSigningAlgValuesSupported
		if c.Metadata.Issuer != "" {
			aud = c.Metadata.Issuer
		}
	}
	if len(algs) > 0 && !slices.Contains(algs, k.Alg) {
		return "", fmt.Errorf("%w: the key signs with %s, but the server accepts only %s", ErrClientKey, k.Alg, sanitize(strings.Join(algs, " "), 120))
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	now := c.now()
	claims := jwt.RegisteredClaims{
		Issuer: c.ClientID, Subject: c.ClientID, Audience: jwt.ClaimStrings{aud},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(AssertionLifetime)),
		ID: base64.RawURLEncoding.EncodeToString(jti[:]),
	}
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(k.Alg), claims)
	s, err := tok.SignedString(k.Signer)
	if err != nil {
		return "", fmt.Errorf("%w: signing the client assertion failed", ErrClientKey)
	}
	return s, nil
}

// ClientCredentials asks for a token with the client_credentials grant
// (OAuth 2.1 §4.2; SEP-1046): no person, the client authenticates with
// its secret or key, as authMethod says. scope is Scopes, resource is
// Resource. No refresh token is expected: when the token expires, ask
// again.
func (c *Client) ClientCredentials(ctx context.Context) (*Tokens, error) {
	if _, err := c.check(); err != nil {
		return nil, err
	}
	if c.ClientSecret.IsZero() && c.ClientKey.IsZero() {
		return nil, fmt.Errorf("%w: the client_credentials grant needs a client secret or key", ErrConfig)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}}
	if len(c.Scopes) > 0 {
		form.Set("scope", strings.Join(c.Scopes, " "))
	}
	if c.Resource != "" {
		form.Set("resource", c.Resource)
	}
	return c.token(ctx, form, c.Scopes)
}
