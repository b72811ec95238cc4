package bearer

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestNewHMACKeepsNoPrintableSecret backs NewHMAC keeping its []byte
// parameter: the Validator copies the secret into the key function's
// closure, not into a field, so printing the Validator (fmt, slog,
// encoding/json) does not show it, and wiping the caller's slice after
// NewHMAC changes nothing.
func TestNewHMACKeepsNoPrintableSecret(t *testing.T) {
	const fake = "FAKE-hs256-secret-for-printing-tests-0123456789"
	key := []byte(fake)
	v, err := NewHMAC(Config{Issuer: testIssuer, Audience: testAudience, Now: func() time.Time { return testNow }}, key)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	clear(key)
	tok := rawJWT(t, mustJSON(t, map[string]any{"alg": "HS256", "typ": "JWT"}), mustJSON(t, claimsAt(testNow)), jwt.SigningMethodHS256, []byte(fake))
	if _, err := v.Validate(bg, tok); err != nil {
		t.Fatalf("a token signed with the secret is refused after the caller wiped its copy: %v", err)
	}
	testkit.NoSecretPrinted(t, map[string]string{"HMAC secret": fake}, v, *v)
}
