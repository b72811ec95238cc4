package main

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit/chain"
)

// wantNotRevoked is exitNotRevoked, README's exit code 5.
const wantNotRevoked = 5

// TestF8_LogoutSaysWhenNotRevoked: a logout that wipes everything here
// but did not revoke the sign-in at the server says so in its last line
// and exits 5: a passphrase vault with no passphrase file and no terminal
// (stdin is /dev/null), and a server that fails the revocation. With
// RELAY_VAULT_PASSPHRASE_FILE the same logout revokes and exits 0.
func TestF8_LogoutSaysWhenNotRevoked(t *testing.T) {
	var revocations atomic.Int64
	var failRevoke atomic.Bool
	c := chain.Start(t, chain.Options{Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/revoke" {
				revocations.Add(1)
				if failRevoke.Load() {
					http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
					return
				}
			}
			h.ServeHTTP(w, r)
		})
	}})
	e := newPassphraseEnv(t, c)
	pass := passphraseFile(t, strongPassphrase)
	login := func() { t.Helper(); e.Says(t, 0, "login --passphrase-file "+pass) }

	login()
	_, stderr, code := e.Run(t, "logout") // no passphrase, no terminal
	last := lastLine(stderr)
	if code != wantNotRevoked || !strings.Contains(last, "wiped here, but NOT revoked at the server") {
		t.Errorf("logout without the passphrase: exit %d, want %d; last line %q\n%s", code, wantNotRevoked, last, stderr)
	}
	if strings.Contains(stderr, "inappropriate ioctl") || !strings.Contains(stderr, "stdin is not a terminal; set RELAY_VAULT_PASSPHRASE_FILE") {
		t.Errorf("the skipped revocation should say why plainly:\n%s", stderr)
	}
	if revocations.Load() != 0 {
		t.Errorf("%d revocation requests without the vault key", revocations.Load())
	}
	wantWiped(t, e.Dir)

	login()
	failRevoke.Store(true)
	_, stderr, code = e.Run(t, "logout", "--passphrase-file", pass)
	if code != wantNotRevoked || !strings.Contains(lastLine(stderr), "NOT revoked at the server") || revocations.Load() != 1 {
		t.Errorf("logout with a failing server: exit %d, %d revocations\n%s", code, revocations.Load(), stderr)
	}
	wantWiped(t, e.Dir)

	login()
	failRevoke.Store(false)
	e.Vars["RELAY_VAULT_PASSPHRASE_FILE"] = pass
	_, stderr, code = e.Run(t, "logout")
	if code != 0 || !strings.Contains(stderr, "was revoked") || lastLine(stderr) != "relay: logged out: revoked at the server and wiped here; no credential of keyrelay remains" {
		t.Errorf("logout with RELAY_VAULT_PASSPHRASE_FILE: exit %d\n%s", code, stderr)
	}
	if revocations.Load() != 2 {
		t.Errorf("%d revocation requests, want 2", revocations.Load())
	}
	wantWiped(t, e.Dir)

	_, stderr, code = e.Run(t, "logout") // nothing stored: nothing to revoke
	if code != 0 || lastLine(stderr) != "relay: logged out; no credential of keyrelay remains" {
		t.Errorf("logout with nothing stored: exit %d\n%s", code, stderr)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// wantWiped fails unless dir holds no vault file.
func wantWiped(t *testing.T, dir string) {
	t.Helper()
	for _, f := range []string{"tokens.age", "key.age", "vault.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived logout: %v", f, err)
		}
	}
}
