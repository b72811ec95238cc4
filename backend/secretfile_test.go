package main

import (
	"runtime"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/platform"
)

// TestF5_JWTSecretFileChecks: JWT_SECRET_FILE is read with the checks of
// the relay's key files (issue 14, F5): anyone who can read the secret can
// forge tokens, so a file readable by others, a symlink or a file of
// another user stops the backend with a message that names the setting
// and the fix, and never the secret.
func TestF5_JWTSecretFileChecks(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix modes and owners")
	}
	for name, setup := range testkit.InsecureFiles(goodSecret) {
		t.Run(name, func(t *testing.T) {
			_, err := parseConfig([]string{"--auth-server", "--jwt-secret-file", setup(t)}, env(nil))
			testkit.WantIs(t, err, platform.ErrInsecure, "parseConfig")
			if msg := err.Error(); !strings.Contains(msg, "JWT_SECRET_FILE") || !strings.Contains(msg, "refusing") ||
				strings.Contains(msg, goodSecret) || strings.Contains(msg, "\n") {
				t.Fatalf("unclear or leaking message: %v", err)
			}
		})
	}
	c, err := parseConfig([]string{"--auth-server", "--jwt-secret-file", testkit.WriteTemp(t, "secret", goodSecret, 0o600)}, env(nil))
	if err != nil || c.JWTSecret.Reveal() != goodSecret {
		t.Fatalf("own 0600 file: %v", err)
	}
}
