//go:build linux

package vault

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// requireSecretService skips unless a real Secret Service answers (run the
// tests through scripts/with-secret-service.sh). Under CI=true it fails
// instead, so CI cannot silently skip the real-keychain tests.
func requireSecretService(t *testing.T) {
	t.Helper()
	_, err := (&OSKeychain{Service: "keyrelay-probe"}).Get(context.Background(), "probe")
	if err == nil || errors.Is(err, ErrNotFound) {
		return
	}
	testkit.SkipOrFail(t, "no Secret Service (run through scripts/with-secret-service.sh): "+err.Error())
}

// secretToolSearch lists keyrelay items as secret-tool sees them, without
// ever returning secret values.
func secretToolSearch(t *testing.T) []string {
	t.Helper()
	out, _ := exec.Command("secret-tool", "search", "--all", "service", DefaultService).CombinedOutput()
	var labels []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "attribute.username = ") {
			labels = append(labels, strings.TrimPrefix(line, "attribute.username = "))
		}
	}
	return labels
}

func TestSecretServiceKeychainRoundTrip(t *testing.T) {
	requireSecretService(t)
	keychainRoundTrip(t, &OSKeychain{Service: "keyrelay-test-roundtrip"})
}

// TestSecretServiceEndToEnd is the "done when" under a real
// gnome-keyring: a token set written by one process is read by another;
// tokens.age is an age file and nothing secret is in plaintext under the
// data directory; Wipe leaves no keychain item (as secret-tool sees it) and
// nothing but the lock file.
func TestSecretServiceEndToEnd(t *testing.T) {
	requireSecretService(t)
	ctx := context.Background()
	if len(secretToolSearch(t)) != 0 {
		t.Fatal("keyrelay items exist before the test; is this the throwaway keyring?")
	}
	dir := newDir(t)
	tok := fakeToken("access")
	st := waitHelper(t, helper(t, "write", "VAULT_TEST_DIR="+dir, "VAULT_TEST_TOKEN="+tok))
	if !st.Success() {
		t.Fatalf("writer process failed: %v", st)
	}

	v := mustOpen(t, Options{Dir: dir}) // the real OS keychain, default service
	got, err := v.Get(ctx, testAcct)
	if err != nil || got.AccessToken.Reveal() != tok {
		t.Fatalf("reader process: Get = %v", err)
	}
	m := mustMeta(t, v)
	if m.KeySource != KindKeychain {
		t.Fatalf("key source %q, want keychain", m.KeySource)
	}
	items := secretToolSearch(t)
	if !slices.Equal(items, []string{keychainAccount(m.ID)}) {
		t.Fatalf("secret-tool sees %v, want the one vault key item", items)
	}
	key, err := (&OSKeychain{}).Get(ctx, keychainAccount(m.ID))
	testkit.NoErr(t, err)
	assertEncryptedAtRest(t, dir, []string{tok, key.Reveal()})

	rep, err := v.Wipe(ctx)
	if err != nil {
		t.Fatalf("Wipe = %v (%+v)", err, rep)
	}
	if items := secretToolSearch(t); len(items) != 0 {
		t.Fatalf("after Wipe secret-tool still finds %v", items)
	}
	wantOnlyLock(t, dir, "after Wipe")
}
