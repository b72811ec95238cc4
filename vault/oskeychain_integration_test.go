//go:build darwin || windows

package vault

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestOSKeychainRoundTrip stores, reads, replaces and deletes an item in
// the real macOS login keychain or Windows Credential Manager, under a
// service name of its own. It writes to the user's keychain, so it runs
// only with KEYRELAY_OS_KEYCHAIN_TEST=1 (set by .github/workflows/ci.yml);
// under CI=true without it, it fails instead of skipping. (On Linux the
// same round trip is TestSecretServiceKeychainRoundTrip.)
func TestOSKeychainRoundTrip(t *testing.T) {
	needOSKeychainTest(t)
	keychainRoundTrip(t, &OSKeychain{Service: "keyrelay-test-os-roundtrip"})
}

// needOSKeychainTest skips unless KEYRELAY_OS_KEYCHAIN_TEST=1; under
// CI=true it fails.
func needOSKeychainTest(t *testing.T) {
	t.Helper()
	if os.Getenv("KEYRELAY_OS_KEYCHAIN_TEST") != "1" {
		testkit.SkipOrFail(t, "writes to this user's keychain: set KEYRELAY_OS_KEYCHAIN_TEST=1 to run it")
	}
}

// TestOSKeychainVaultEndToEnd is TestSecretServiceEndToEnd against the
// macOS login keychain or Windows Credential Manager, under a service name
// of its own: a vault keyed by the OS keychain (no RELAY_VAULT_KEY) writes
// a record that another Vault reads; the key is in the keychain and no
// secret is in plaintext under the data directory; Wipe leaves no item of
// the service in the keychain (on Windows as Credential Manager lists
// them) and nothing but the lock file on disk.
func TestOSKeychainVaultEndToEnd(t *testing.T) {
	needOSKeychainTest(t)
	ctx := context.Background()
	k := &OSKeychain{Service: "keyrelay-test-os-vault"}
	t.Cleanup(func() { k.DeleteAll(ctx) })
	testkit.NoErr(t, k.DeleteAll(ctx), "DeleteAll before the test")
	dir := newDir(t)
	rec := fakeRecord()
	mustUpdate(t, mustOpen(t, Options{Dir: dir, Keychain: k}), testAcct, rec)

	v := mustOpen(t, Options{Dir: dir, Keychain: k})
	got, err := v.Get(ctx, testAcct)
	if err != nil || got.AccessToken.Reveal() != rec.AccessToken.Reveal() {
		t.Fatalf("a second Vault: Get = %v (same token: %v)", err, err == nil && got.AccessToken.Reveal() == rec.AccessToken.Reveal())
	}
	m := mustMeta(t, v)
	if m.KeySource != KindKeychain {
		t.Fatalf("key source %q, want keychain", m.KeySource)
	}
	key, err := k.Get(ctx, keychainAccount(m.ID))
	testkit.NoErr(t, err, "the vault key in the keychain")
	if items := osKeychainItems(t, k.Service); items != nil && !slices.Equal(items, []string{keychainAccount(m.ID)}) {
		t.Fatalf("the keychain lists %v, want the one vault key item", items)
	}
	assertEncryptedAtRest(t, dir, []string{rec.AccessToken.Reveal(), rec.RefreshToken.Reveal(), key.Reveal()})

	if rep, err := v.Wipe(ctx); err != nil {
		t.Fatalf("Wipe = %v (%+v)", err, rep)
	}
	testkit.WantIs(t, testkit.ErrOf(k.Get(ctx, keychainAccount(m.ID))), ErrNotFound, "the vault key after Wipe")
	if items := osKeychainItems(t, k.Service); len(items) != 0 {
		t.Fatalf("after Wipe the keychain still lists %v", items)
	}
	wantOnlyLock(t, dir, "after Wipe")
}
