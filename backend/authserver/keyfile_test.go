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
	refused := map[string]func(t *testing.T) string{
		"symlink to a 0600 key": func(t *testing.T) string {
			link := filepath.Join(t.TempDir(), "link.pem")
			testkit.NoErr(t, os.Symlink(key, link))
			return link
		},
		"dangling symlink": func(t *testing.T) string {
			link := filepath.Join(t.TempDir(), "link.pem")
			testkit.NoErr(t, os.Symlink(filepath.Join(t.TempDir(), "absent.pem"), link))
			return link
		},
		"another user's key": func(t *testing.T) string {
			p := testkit.WriteTemp(t, "other.pem", string(pemBytes), 0o600)
			testkit.ChownToOther(t, p)
			return p
		},
		"world readable": func(t *testing.T) string { return testkit.WriteTemp(t, "loose.pem", string(pemBytes), 0o644) },
	}
	for name, setup := range refused {
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
