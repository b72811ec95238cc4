package testkit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// ECKey makes a P-256 key: an identity provider's, a machine client's.
func ECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	NoErr(t, err)
	return k
}

// ecJWK is the public JWK (RFC 7517) of a P-256 key: kty, crv, x, y.
func ecJWK(t testing.TB, pub *ecdsa.PublicKey) map[string]any {
	t.Helper()
	pt, err := pub.Bytes() // 0x04 || X || Y
	NoErr(t, err)
	b64 := base64.RawURLEncoding.EncodeToString
	return map[string]any{"kty": "EC", "crv": "P-256", "x": b64(pt[1:33]), "y": b64(pt[33:])}
}

// JWKS is the JSON Web Key Set of the public halves of keys.
func JWKS(t testing.TB, keys ...*ecdsa.PrivateKey) []byte {
	t.Helper()
	var set []any
	for _, k := range keys {
		set = append(set, ecJWK(t, &k.PublicKey))
	}
	b, err := json.Marshal(map[string]any{"keys": set})
	NoErr(t, err)
	return b
}

// PEM is a private key as a PKCS #8 PEM block.
func PEM(t testing.TB, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	NoErr(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// SignJWT signs claims with key by method m, with typ in the header
// ("JWT" for a plain JWT).
func SignJWT(t testing.TB, m jwt.SigningMethod, key any, typ string, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	tok.Header["typ"] = typ
	s, err := tok.SignedString(key)
	NoErr(t, err)
	return s
}
