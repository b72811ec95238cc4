package vault

import (
	"context"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestRequireKeychain: with the administrator's policy, a file key,
// key command or passphrase is refused outright, an unavailable keychain
// does not fall back to a configured passphrase, and a vault created
// earlier with a file key is not opened (and not moved aside).
func TestRequireKeychain(t *testing.T) {
	ctx := context.Background()
	spec, _ := keyFile(t)
	for _, ks := range []string{spec, "cmd:/bin/true", "passphrase"} {
		_, err := Open(ctx, Options{Dir: newDir(t), KeySpec: ks, RequireKeychain: true, Keychain: NewMemKeychain()})
		wantErr(t, err, ErrKeySource)
		if !strings.Contains(err.Error(), "policy requires the OS keychain") {
			t.Fatalf("%s: error does not name the policy: %v", ks, err)
		}
	}

	// No fallback: the keychain is unavailable and a passphrase file is set.
	kc := NewMemKeychain()
	kc.SetErr(errUnavailable())
	v := mustOpen(t, Options{Dir: newDir(t), PassphraseFile: passFile(t, "correct horse battery staple"), RequireKeychain: true, Keychain: kc, ScryptWorkFactor: testWorkFactor})
	wantErr(t, v.Update(ctx, testAcct, setAccess(fakeToken("access"))), ErrUnavailable)
	wantOnlyLock(t, v.Dir(), "refused first write")
	// The same options without the policy do fall back: the test above
	// would pass for the wrong reason otherwise.
	v = mustOpen(t, Options{Dir: newDir(t), PassphraseFile: passFile(t, "correct horse battery staple"), Keychain: kc, ScryptWorkFactor: testWorkFactor})
	testkit.NoErr(t, v.Update(ctx, testAcct, setAccess(fakeToken("access"))), "without the policy the passphrase fallback should work")

	// A vault made with a file key before the policy arrived.
	dir := newDir(t)
	old := mustOpen(t, Options{Dir: dir, KeySpec: spec, Keychain: NewMemKeychain()})
	mustUpdate(t, old, testAcct, &Record{AccessToken: secret.New(fakeToken("access"))})
	v = mustOpen(t, Options{Dir: dir, RequireKeychain: true, Keychain: NewMemKeychain()})
	_, err := v.Get(ctx, testAcct)
	wantErr(t, err, ErrKeySource)
	if !strings.Contains(err.Error(), `created with key source "file"`) {
		t.Fatalf("error should say why: %v", err)
	}
	if names := testkit.DirNames(t, dir); len(names) != 3 {
		t.Fatalf("data dir changed to %v", names)
	}

	// The keychain itself works under the policy.
	v = mustOpen(t, Options{Dir: newDir(t), KeySpec: "keychain", RequireKeychain: true, Keychain: NewMemKeychain()})
	testkit.NoErr(t, v.Update(ctx, testAcct, setAccess(fakeToken("access"))))
	if got := mustMeta(t, v).KeySource; got != KindKeychain {
		t.Fatalf("key source %q", got)
	}
}
