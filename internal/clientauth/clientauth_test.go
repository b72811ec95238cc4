package clientauth

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestAssertion: a parsed Ed25519 key signs with EdDSA an assertion whose
// iss and sub are the client, aud the given issuer, life Lifetime, and a
// fresh jti each time.
func TestAssertion(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKey([]byte(testkit.PEM(t, priv)))
	if err != nil || k.Alg != "EdDSA" {
		t.Fatalf("ParseKey: %v, alg %v", err, k)
	}
	now := time.Unix(1_800_000_000, 0)
	seen := map[string]bool{}
	for range 2 {
		a, err := Assertion(k, "backend", "https://as.example", now)
		if err != nil {
			t.Fatal(err)
		}
		var c jwt.RegisteredClaims
		_, err = jwt.ParseWithClaims(a, &c, func(*jwt.Token) (any, error) { return pub, nil },
			jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer("backend"), jwt.WithSubject("backend"),
			jwt.WithAudience("https://as.example"), jwt.WithTimeFunc(func() time.Time { return now }))
		if err != nil || c.ExpiresAt.Sub(c.IssuedAt.Time) != Lifetime || c.ID == "" || seen[c.ID] {
			t.Fatalf("assertion: %v, claims %+v", err, c)
		}
		seen[c.ID] = true
	}
}

func TestKeyForRefusesOtherKeys(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	for name, k := range map[string]any{"public key": pub, "nil": nil, "string": "key"} {
		if _, err := KeyFor(k); !errors.Is(err, ErrKey) {
			t.Errorf("%s: %v, want ErrKey", name, err)
		}
	}
}
