//go:build darwin || windows

package vault

import (
	"context"
	"os"
	"testing"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestOSKeychainRoundTrip stores, reads, replaces and deletes an item in
// the real macOS login keychain or Windows Credential Manager, under a
// service name of its own. It writes to the user's keychain, so it runs
// only with KEYRELAY_OS_KEYCHAIN_TEST=1 (set by .github/workflows/ci.yml);
// under CI=true without it, it fails instead of skipping. (On Linux the
// same round trip is TestSecretServiceKeychainRoundTrip.)
func TestOSKeychainRoundTrip(t *testing.T) {
	if os.Getenv("KEYRELAY_OS_KEYCHAIN_TEST") != "1" {
		testkit.SkipOrFail(t, "writes to this user's keychain: set KEYRELAY_OS_KEYCHAIN_TEST=1 to run it")
	}
	ctx := context.Background()
	k := &OSKeychain{Service: "keyrelay-test-os-roundtrip"}
	t.Cleanup(func() { k.DeleteAll(ctx) })
	testkit.NoErr(t, k.DeleteAll(ctx), "DeleteAll before the test")
	testkit.WantIs(t, testkit.ErrOf(k.Get(ctx, "missing")), ErrNotFound, "Get(missing)")
	testkit.NoErr(t, k.Set(ctx, "a", secret.New("fake-value-1")))
	testkit.NoErr(t, k.Set(ctx, "a", secret.New("fake-value-2")), "Set replacing an item")
	if v, err := k.Get(ctx, "a"); err != nil || v.Reveal() != "fake-value-2" {
		t.Fatalf("Get after replace: err %v, value is the replacement: %v", err, err == nil && v.Reveal() == "fake-value-2")
	}
	testkit.NoErr(t, k.DeleteAll(ctx))
	testkit.WantIs(t, testkit.ErrOf(k.Get(ctx, "a")), ErrNotFound, "Get after DeleteAll")
	testkit.NoErr(t, k.DeleteAll(ctx), "DeleteAll with no items")
}
