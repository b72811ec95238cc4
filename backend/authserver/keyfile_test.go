package authserver

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/platform"
)

// TestF5_SigningKeyFileChecks: AUTH_SIGNING_KEY is read with the checks of
// the relay's key files (issue 14, F5). It used to check the mode bits
// only, through a symlink and whatever the owner: a link to a 0600 key, or
// another user's key file, was accepted.
func TestF5_SigningKeyFileChecks(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix modes and owners")
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "signing.pem")
	_, err := LoadOrCreateKey(key)
	testkit.NoErr(t, err)
	pemBytes, err := os.ReadFile(key)
	testkit.NoErr(t, err)
	for name, setup := range testkit.InsecureFiles(string(pemBytes)) {
		t.Run(name, func(t *testing.T) {
			p := setup(t)
			_, err := LoadOrCreateKey(p)
			testkit.WantIs(t, err, ErrKeyFile, "LoadOrCreateKey")
			testkit.WantIs(t, err, platform.ErrInsecure, "LoadOrCreateKey")
			if !strings.Contains(err.Error(), "refusing "+p) || strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Fatalf("unclear or leaking message: %v", err)
			}
		})
	}
}
