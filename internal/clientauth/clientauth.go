// Package clientauth makes private_key_jwt client assertions (RFC 7523
// §2.2 and §3): the relay's, at the token endpoint, and the backend's, at
// the introspection endpoint. It parses the client's PEM private key and
// signs one short-lived assertion per request. Its errors never hold key
// material.
package clientauth

import (
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
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// AssertionType is the client_assertion_type of private_key_jwt (RFC 7523
// §2.2).
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Lifetime is how long an assertion is valid: it is made for one request.
const Lifetime = 60 * time.Second

// ErrKey means the client's private key is unusable.
var ErrKey = errors.New("client key")

// Key is a parsed private key and the one algorithm it signs with.
type Key struct {
	Signer crypto.Signer
	Alg    string // ES256, RS256 or EdDSA
}

// ParseKey reads a PEM private key (PKCS #8, or the SEC 1 "EC PRIVATE
// KEY" and PKCS #1 "RSA PRIVATE KEY" forms): EC P-256 signs with ES256,
// RSA of at least 2048 bits with RS256, Ed25519 with EdDSA. Any other key
// is refused.
func ParseKey(pemBytes []byte) (*Key, error) {
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		return nil, fmt.Errorf("%w: not a PEM private key", ErrKey)
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
		return nil, fmt.Errorf("%w: PEM block %q is not a private key", ErrKey, secret.Scrub(b.Type, 40))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: the PEM private key does not parse", ErrKey)
	}
	return KeyFor(key)
}

// KeyFor returns the Key of a parsed private key, with the checks of
// ParseKey.
func KeyFor(key any) (*Key, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: EC key on %s; only P-256 (ES256) is supported", ErrKey, k.Curve.Params().Name)
		}
		return &Key{Signer: k, Alg: "ES256"}, nil
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%w: RSA key of %d bits; at least 2048 are needed", ErrKey, k.N.BitLen())
		}
		return &Key{Signer: k, Alg: "RS256"}, nil
	case ed25519.PrivateKey:
		return &Key{Signer: k, Alg: "EdDSA"}, nil
	}
	return nil, fmt.Errorf("%w: unsupported key type %T; use EC P-256, RSA (2048 bits or more) or Ed25519", ErrKey, key)
}

// Assertion signs a fresh client assertion for one request: iss = sub =
// clientID; aud = aud, the authorization server's issuer identifier, as
// draft-ietf-oauth-rfc7523bis requires (an endpoint URL as audience lets
// one server replay an assertion at another); iat now, exp Lifetime
// later; a random jti, so the server can refuse a replay.
func Assertion(k *Key, clientID, aud string, now time.Time) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	claims := jwt.RegisteredClaims{
		Issuer: clientID, Subject: clientID, Audience: jwt.ClaimStrings{aud},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(Lifetime)),
		ID: base64.RawURLEncoding.EncodeToString(jti[:]),
	}
	s, err := jwt.NewWithClaims(jwt.GetSigningMethod(k.Alg), claims).SignedString(k.Signer)
	if err != nil {
		return "", fmt.Errorf("%w: signing the client assertion failed", ErrKey)
	}
	return s, nil
}
