//go:build unix

package vault

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// The Secret Service faults need a real gnome-keyring
// (testkit.SecretService), which is unix only.

// keychainWrite runs the "write" helper process (Open with the default key
// source, the OS keychain, then one Update) against ss and returns its
// stderr, whether it succeeded, and how long it took.
func keychainWrite(t *testing.T, ss *testkit.SecretService, dir string) (string, bool, time.Duration) {
	t.Helper()
	cmd := helperCmd(t, "write", "VAULT_TEST_DIR="+dir, "VAULT_TEST_KEYSPEC=", "VAULT_TEST_TOKEN="+fakeToken("access"),
		"VAULT_TEST_SERVICE=keyrelay-fault-test", ss.Env())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	return stderr.String(), err == nil, time.Since(start)
}

// TestFault_SecretServiceLockedOrFrozen, with a real gnome-keyring: a
// vault whose key is in the keychain; the keychain then locked, then
// frozen (SIGSTOP: its bus name stays, no answer comes). Each write by a
// new process fails within the keychain timeout (3 s) with a clear error
// and changes nothing on disk; a first write on the locked keychain
// leaves only the lock file.
func TestFault_SecretServiceLockedOrFrozen(t *testing.T) {
	ss := testkit.StartSecretService(t)
	dir := newDir(t)
	if out, ok, _ := keychainWrite(t, ss, dir); !ok {
		t.Fatalf("write with an unlocked keyring failed: %s", out)
	}
	files := dataFiles(t, dir)
	if _, ok := files[fileKey]; ok || files[fileTokens] == "" {
		t.Fatalf("the keychain vault holds %v", testkit.DirNames(t, dir))
	}
	check := func(what, dir, want string, files map[string]string) {
		t.Helper()
		out, ok, took := keychainWrite(t, ss, dir)
		if ok {
			t.Fatalf("%s: the write succeeded", what)
		}
		if !strings.Contains(out, ErrLocked.Error()) || !strings.Contains(out, want) {
			t.Fatalf("%s: helper said %q; want ErrLocked and %q", what, out, want)
		}
		if took > DefaultKeychainTimeout+5*time.Second {
			t.Fatalf("%s: the write took %v; the keychain timeout is %v", what, took, DefaultKeychainTimeout)
		}
		sameFiles(t, what, dir, files)
		t.Logf("%s: %v: %s", what, took, strings.TrimSpace(out))
	}
	ss.Lock(t)
	check("locked", dir, "unlock refused", files)
	first := newDir(t)
	check("first write, locked", first, "unlock refused", map[string]string{fileLock: ""})
	ss.Freeze(t)
	check("frozen", dir, "no answer within", files)
}
