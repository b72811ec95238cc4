package bearer

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

const (
	testIssuer   = "https://issuer.example"
	testAudience = "http://127.0.0.1:5002"
)

// testSecret is an obviously fake HS256 secret.
var testSecret = []byte("test-secret-0123456789-abcdefghijklmnop")

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

type testKeys struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
	ed  ed25519.PrivateKey
}

var (
	keysOnce sync.Once
	keys     testKeys
)

func getKeys(t testing.TB) testKeys {
	keysOnce.Do(func() {
		var err error
		if keys.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if keys.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if _, keys.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
	return keys
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwks returns a JWK Set holding the test's public keys (kids "rsa", "ec",
// "ed") plus any extra raw JWK objects.
func jwks(t testing.TB, extra ...string) []byte {
	k := getKeys(t)
	e := big.NewInt(int64(k.rsa.E))
	ecPub := k.ec.PublicKey
	parts := []string{
		`{"kty":"RSA","kid":"rsa","use":"sig","alg":"RS256","n":"` + b64(k.rsa.N.Bytes()) + `","e":"` + b64(e.Bytes()) + `"}`,
		`{"kty":"EC","kid":"ec","use":"sig","alg":"ES256","crv":"P-256",` + ecXY(t, &ecPub) + `}`,
		`{"kty":"OKP","kid":"ed","use":"sig","alg":"EdDSA","crv":"Ed25519","x":"` + b64(k.ed.Public().(ed25519.PublicKey)) + `"}`,
	}
	parts = append(parts, extra...)
	return []byte(`{"keys":[` + strings.Join(parts, ",") + `]}`)
}

func claimsAt(now time.Time) map[string]any {
	return map[string]any{
		"iss": testIssuer, "sub": "alice", "aud": testAudience,
		"exp": now.Add(10 * time.Minute).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
		"jti": "jti-1", "client_id": "relay", "scope": "notes:read notes:write",
	}
}

// rawJWT builds a token from literal header and payload JSON and signs it
// with method and key, so tests can craft headers golang-jwt would not.
func rawJWT(t testing.TB, header, payload string, method jwt.SigningMethod, key any) string {
	t.Helper()
	signing := b64([]byte(header)) + "." + b64([]byte(payload))
	if method == nil {
		return signing + "."
	}
	sig, err := method.Sign(signing, key)
	testkit.NoErr(t, err, "sign")
	return signing + "." + b64(sig)
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	testkit.NoErr(t, err)
	return string(b)
}

// signed returns a token signed by alg with the test key for it, with the
// given claims and extra header members.
func signed(t testing.TB, alg string, claims map[string]any, hdr map[string]any) string {
	t.Helper()
	k := getKeys(t)
	h := map[string]any{"alg": alg, "typ": "at+jwt"}
	var key any
	var m jwt.SigningMethod
	switch alg {
	case "HS256":
		m, key = jwt.SigningMethodHS256, testSecret
	case "RS256":
		m, key, h["kid"] = jwt.SigningMethodRS256, k.rsa, "rsa"
	case "ES256":
		m, key, h["kid"] = jwt.SigningMethodES256, k.ec, "ec"
	case "EdDSA":
		m, key, h["kid"] = jwt.SigningMethodEdDSA, k.ed, "ed"
	default:
		t.Fatalf("no test key for %s", alg)
	}
	for kk, v := range hdr {
		if v == nil {
			delete(h, kk)
		} else {
			h[kk] = v
		}
	}
	return rawJWT(t, mustJSON(t, h), mustJSON(t, claims), m, key)
}

func hmacValidator(t testing.TB) *Validator {
	t.Helper()
	v, err := NewHMAC(Config{Issuer: testIssuer, Audience: testAudience, Now: func() time.Time { return testNow }}, testSecret)
	testkit.NoErr(t, err)
	return v
}

// validatorFor is the validator that accepts alg's test tokens.
func validatorFor(t testing.TB, alg string) *Validator {
	if alg == "HS256" {
		return hmacValidator(t)
	}
	return keySetValidator(t)
}

func keySetValidator(t testing.TB, extra ...string) *Validator {
	t.Helper()
	v, err := NewStaticKeySet(Config{Issuer: testIssuer, Audience: testAudience, Now: func() time.Time { return testNow }}, jwks(t, extra...))
	testkit.NoErr(t, err)
	return v
}

var bg = context.Background()

// ecXY is the "x" and "y" members of a P-256 public JWK for pub.
func ecXY(t testing.TB, pub *ecdsa.PublicKey) string {
	b, err := pub.Bytes() // 0x04 || X || Y
	if err != nil || len(b) != 65 {
		t.Fatalf("P-256 public key: %v", err)
	}
	return `"x":"` + b64(b[1:33]) + `","y":"` + b64(b[33:]) + `"`
}
