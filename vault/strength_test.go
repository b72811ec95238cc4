package vault

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestF6_CheckPassphrase: the floor a new vault's passphrase must clear,
// and errors that say what is wanted without the passphrase.
func TestF6_CheckPassphrase(t *testing.T) {
	for _, c := range []struct {
		pass string
		why  string // "" = accepted
	}{
		{"p", "shorter than 15"},
		{"correct horse", "shorter than 15"},
		{"ключ-от-сейфа", "shorter than 15"}, // 13 characters, 24 bytes
		{"aaaaaaaaaaaaaaaaaaaaaaaaa", "fewer than 8 different"},
		{"abababababababababab", "fewer than 8 different"},
		{"passwordpassword", "fewer than 8 different"},
		{"abcdefghijklmnopqrstuvwxyz", "repeated or consecutive"},
		{"1234567890123456789", "repeated or consecutive"},
		{"ZYXWVUTSRQPONMLKJ", "repeated or consecutive"},
		{"correct horse battery staple", ""},
		{"Tr0ub4dor&3-plugh-xyzzy", ""},
		{"ключ от сейфа и двери", ""},
	} {
		err := CheckPassphrase(secret.New(c.pass))
		switch {
		case c.why == "" && err != nil:
			t.Errorf("%q refused: %v", c.pass, err)
		case c.why == "":
		case !errors.Is(err, ErrWeakPassphrase) || !strings.Contains(err.Error(), c.why) || !strings.Contains(err.Error(), "want at least 15 characters"):
			t.Errorf("%q: got %v, want ErrWeakPassphrase saying %q and what is wanted", c.pass, err, c.why)
		case len(c.pass) > 3 && strings.Contains(err.Error(), c.pass):
			t.Errorf("the error holds the passphrase: %v", err)
		}
	}
}

// TestF6_WeakPassphraseRefusedAtCreation: a new vault refuses a weak
// passphrase, prompted (before asking to repeat it) or from
// RELAY_VAULT_PASSPHRASE_FILE, and writes nothing; the prompts are labels
// without punctuation, which the terminal adds (no "passphrase: : ").
func TestF6_WeakPassphraseRefusedAtCreation(t *testing.T) {
	ctx := context.Background()
	prompter := func(answer string, labels *[]string) func(context.Context, string) (secret.Value, error) {
		return func(_ context.Context, label string) (secret.Value, error) {
			*labels = append(*labels, label)
			return secret.New(answer), nil
		}
	}

	var labels []string
	dir := newDir(t)
	v := mustOpen(t, Options{Dir: dir, KeySpec: "passphrase", Prompt: prompter("hunter2", &labels), ScryptWorkFactor: testWorkFactor, Keychain: NewMemKeychain()})
	wantErr(t, v.Update(ctx, testAcct, setAccess(fakeToken("access"))), ErrWeakPassphrase)
	if !slices.Equal(labels, []string{"New vault passphrase"}) {
		t.Errorf("prompts %q, want one, without a colon: the weak one is refused before the repeat", labels)
	}
	wantOnlyLock(t, dir, "after a weak prompted passphrase")

	dir = newDir(t)
	v = mustOpen(t, Options{Dir: dir, KeySpec: "passphrase", PassphraseFile: passFile(t, "hunter2"), ScryptWorkFactor: testWorkFactor, Keychain: NewMemKeychain()})
	err := v.Update(ctx, testAcct, setAccess(fakeToken("access")))
	wantErr(t, err, ErrWeakPassphrase)
	if err == nil || !strings.Contains(err.Error(), "RELAY_VAULT_PASSPHRASE_FILE") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the error should name the file and not hold the passphrase: %v", err)
	}
	wantOnlyLock(t, dir, "after a weak passphrase file")

	labels = nil
	v = mustOpen(t, Options{Dir: newDir(t), KeySpec: "passphrase", Prompt: prompter("correct horse battery staple", &labels), ScryptWorkFactor: testWorkFactor, Keychain: NewMemKeychain()})
	mustUpdate(t, v, testAcct, setAccessRecord(fakeToken("access")))
	if !slices.Equal(labels, []string{"New vault passphrase", "Repeat the new passphrase"}) {
		t.Errorf("prompts %q", labels)
	}
	if err := v.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestF6_OldWeakVaultStillOpens: the floor applies to new vaults only: a
// vault whose key.age was wrapped with a weak passphrase before the rule
// still opens with it (its owner logs out and in to choose a new one).
func TestF6_OldWeakVaultStillOpens(t *testing.T) {
	ctx := context.Background()
	dir := newDir(t)
	strong := "correct horse battery staple"
	v := mustOpen(t, Options{Dir: dir, KeySpec: "passphrase", PassphraseFile: passFile(t, strong), ScryptWorkFactor: testWorkFactor, Keychain: NewMemKeychain()})
	tok := fakeToken("access")
	mustUpdate(t, v, testAcct, setAccessRecord(tok))

	// Rewrap key.age with "p", as a vault made before the rule could be.
	keyPath := filepath.Join(dir, fileKey)
	wrapped, err := os.ReadFile(keyPath)
	testkit.NoErr(t, err)
	sid, err := age.NewScryptIdentity(strong)
	testkit.NoErr(t, err)
	r, err := age.Decrypt(bytes.NewReader(wrapped), sid)
	testkit.NoErr(t, err)
	key, err := io.ReadAll(r)
	testkit.NoErr(t, err)
	rcp, err := age.NewScryptRecipient("p")
	testkit.NoErr(t, err)
	rcp.SetWorkFactor(testWorkFactor)
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rcp)
	testkit.NoErr(t, err)
	w.Write(key)
	testkit.NoErr(t, w.Close())
	testkit.NoErr(t, os.WriteFile(keyPath, buf.Bytes(), 0o600))

	v = mustOpen(t, Options{Dir: dir, PassphraseFile: passFile(t, "p"), Keychain: NewMemKeychain()})
	got, err := v.Get(ctx, testAcct)
	if err != nil || got.AccessToken.Reveal() != tok {
		t.Fatalf("a vault with an old weak passphrase: %v", err)
	}
}
