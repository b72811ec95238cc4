package testkit

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// PeekJWT decodes part i of a compact JWT (0: the header, 1: the claims)
// as a JSON object, verifying nothing: for tests that read what a server
// issued.
func PeekJWT(t testing.TB, jwt string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT (%d parts)", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("JWT part %d: %v", i, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("JWT part %d: %v", i, err)
	}
	return m
}
