package bearer

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
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
	secrets := map[string]string{"HMAC secret": fake}
	assertPrintsNone(t, v, secrets)
	assertPrintsNone(t, *v, secrets)
}

// assertPrintsNone fails if any way of printing v shows one of secrets.
func assertPrintsNone(t *testing.T, v any, secrets map[string]string) {
	t.Helper()
	for how, out := range printings(v) {
		for name, s := range secrets {
			if s == "" {
				t.Fatalf("the %s is empty: nothing to look for", name)
			}
			for _, enc := range encodings(s) {
				if strings.Contains(out, enc) {
					t.Errorf("%s of a %T shows the %s: %s", how, v, name, out)
				}
			}
		}
	}
}

// printings is v printed by fmt (%v, %+v, %#v, %s), by slog's JSON and text
// handlers, and by json.Marshal (its error text, if it fails).
func printings(v any) map[string]string {
	var js, txt bytes.Buffer
	slog.New(slog.NewJSONHandler(&js, nil)).Info("print", "v", v)
	slog.New(slog.NewTextHandler(&txt, nil)).Info("print", "v", v)
	j, err := json.Marshal(v)
	if err != nil {
		j = []byte("json error: " + err.Error())
	}
	return map[string]string{
		"%v": fmt.Sprintf("%v", v), "%+v": fmt.Sprintf("%+v", v), "%#v": fmt.Sprintf("%#v", v), "%s": fmt.Sprintf("%s", v),
		"slog JSON": js.String(), "slog text": txt.String(), "json.Marshal": string(j),
	}
}

// encodings are the ways fmt or an encoder could spell s: as is, as hex,
// base64 and fmt's byte list ("[116 101 ...]" without the brackets).
func encodings(s string) []string {
	b := []byte(s)
	return []string{s, hex.EncodeToString(b), base64.StdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		strings.Trim(fmt.Sprint(b), "[]")}
}
