package vault

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestCorruptFiles: an unusable file gives a clear *CorruptError, is kept
// (moved aside with a timestamp, byte for byte), and the next login works.
func TestCorruptFiles(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		damage func(t *testing.T, v *Vault)
		file   string   // the file the error names
		moved  []string // files moved aside
		keep   bool     // vault.json survives (same key reused)
	}{
		{"garbage tokens.age", func(t *testing.T, v *Vault) {
			write(t, v.path(fileTokens), []byte("fake-garbage-CONTENT that is not age"))
		}, fileTokens, []string{fileTokens}, true},
		{"truncated tokens.age", func(t *testing.T, v *Vault) {
			b, _ := os.ReadFile(v.path(fileTokens))
			write(t, v.path(fileTokens), b[:len(b)-20])
		}, fileTokens, []string{fileTokens}, true},
		{"flipped byte in tokens.age", func(t *testing.T, v *Vault) {
			b, _ := os.ReadFile(v.path(fileTokens))
			b[len(b)-5] ^= 1
			write(t, v.path(fileTokens), b)
		}, fileTokens, []string{fileTokens}, true},
		{"valid age, malformed content", func(t *testing.T, v *Vault) {
			key, _ := v.identity(ctx, mustMeta(t, v))
			var buf bytes.Buffer
			w, _ := age.Encrypt(&buf, key.Recipient())
			w.Write([]byte(`{"version":1,"accounts":[{"issuer":"x","access_token":"fake-CONTENT",`))
			w.Close()
			write(t, v.path(fileTokens), buf.Bytes())
		}, fileTokens, []string{fileTokens}, true},
		{"garbage vault.json", func(t *testing.T, v *Vault) {
			write(t, v.path(fileMeta), []byte("{not json CONTENT"))
		}, fileMeta, []string{fileMeta, fileTokens}, false},
		{"vault.json missing", func(t *testing.T, v *Vault) {
			os.Remove(v.path(fileMeta))
		}, fileTokens, []string{fileTokens}, false},
		{"vault key gone from keychain", func(t *testing.T, v *Vault) {
			v.kc.DeleteAll(ctx)
		}, fileTokens, []string{fileTokens, fileMeta}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _ := openMem(t)
			now := time.Date(2026, 11, 25, 18, 15, 0, 0, time.UTC)
			v.now = func() time.Time { return now }
			mustUpdate(t, v, testAcct, fakeRecord())
			tt.damage(t, v)
			before := map[string][]byte{}
			for _, n := range tt.moved {
				before[n], _ = os.ReadFile(v.path(n))
			}
			v2 := mustOpen(t, Options{Dir: v.Dir(), Keychain: v.kc, Now: v.now})
			_, err := v2.Get(ctx, testAcct)
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.File != tt.file {
				t.Fatalf("Get = %v, want *CorruptError for %s", err, tt.file)
			}
			if strings.Contains(err.Error(), "CONTENT") || !strings.Contains(err.Error(), "moved aside") {
				t.Fatalf("error %q quotes content or does not say where the file went", err)
			}
			for _, n := range tt.moved {
				aside := v.path(n + ".corrupt-20261125T181500Z")
				got, rerr := os.ReadFile(aside)
				if rerr != nil || !bytes.Equal(got, before[n]) {
					t.Fatalf("%s not kept byte for byte at %s: %v", n, aside, rerr)
				}
				if exists(v.path(n)) {
					t.Fatalf("%s still in place", n)
				}
			}
			// The next login works, and the old key is reused if vault.json survived.
			id := ""
			if tt.keep {
				id = mustMeta(t, v2).ID
			}
			mustUpdate(t, v2, testAcct, fakeRecord())
			if _, err := v2.Get(ctx, testAcct); err != nil {
				t.Fatalf("Get after new login: %v", err)
			}
			if tt.keep && mustMeta(t, v2).ID != id {
				t.Fatal("a new vault was created although vault.json was fine")
			}
			// A second failure at the same second does not overwrite the first file moved aside.
			write(t, v2.path(fileTokens), []byte("again"))
			v2.forget()
			v2.Get(ctx, testAcct)
			names := testkit.DirNames(t, v2.Dir())
			if !slices.Contains(names, fileTokens+".corrupt-20261125T181500Z-1") && tt.keep {
				t.Fatalf("second corrupt file not kept separately: %v", names)
			}
		})
	}
}

func write(t *testing.T, p string, b []byte) {
	t.Helper()
	testkit.NoErr(t, os.WriteFile(p, b, 0o600))
}

// A lone key.age (a first login that crashed before vault.json) is moved
// aside, not reused or overwritten.
func TestStrayKeyFileMovedAside(t *testing.T) {
	dir := newDir(t)
	os.MkdirAll(dir, 0o700)
	write(t, filepath.Join(dir, fileKey), []byte("stray"))
	v, err := Open(context.Background(), Options{Dir: dir, KeySpec: "passphrase", PassphraseFile: passFile(t, "correct horse battery staple"),
		ScryptWorkFactor: testWorkFactor, Keychain: NewMemKeychain()})
	testkit.NoErr(t, err)
	mustUpdate(t, v, testAcct, fakeRecord())
	found := false
	for _, n := range testkit.DirNames(t, dir) {
		if strings.HasPrefix(n, fileKey+".corrupt-") {
			b, _ := os.ReadFile(filepath.Join(dir, n))
			found = string(b) == "stray"
		}
	}
	if !found {
		t.Fatal("stray key.age was not kept")
	}
}

// TestNewerVaultLeftAsItIs: a vault a newer relay wrote (a higher format
// version, a field or a key source this relay does not know) is refused
// with ErrNewer and left byte for byte: nothing moved aside, nothing
// written by an update; logout (Wipe) still removes it.
func TestNewerVaultLeftAsItIs(t *testing.T) {
	ctx := context.Background()
	sealed := func(t *testing.T, v *Vault, content string) {
		key, err := v.identity(ctx, mustMeta(t, v))
		testkit.NoErr(t, err)
		var buf bytes.Buffer
		w, _ := age.Encrypt(&buf, key.Recipient())
		w.Write([]byte(content))
		w.Close()
		write(t, v.path(fileTokens), buf.Bytes())
	}
	meta := func(t *testing.T, v *Vault, from, to string) {
		b, err := os.ReadFile(v.path(fileMeta))
		testkit.NoErr(t, err)
		if !bytes.Contains(b, []byte(from)) {
			t.Fatalf("vault.json has no %s: %s", from, b)
		}
		write(t, v.path(fileMeta), bytes.Replace(b, []byte(from), []byte(to), 1))
	}
	for name, tc := range map[string]struct {
		damage func(t *testing.T, v *Vault)
		file   string
	}{
		"tokens.age with a new field": {func(t *testing.T, v *Vault) {
			sealed(t, v, `{"version":1,"accounts":[{"issuer":"https://as.example","access_token":"fake-CONTENT","future_binding":"x"}]}`)
		}, fileTokens},
		"tokens.age of a new version": {func(t *testing.T, v *Vault) { sealed(t, v, `{"version":2,"accounts":[]}`) }, fileTokens},
		"vault.json of a new version": {func(t *testing.T, v *Vault) { meta(t, v, `"version": 1`, `"version": 2`) }, fileMeta},
		"vault.json with a new field": {func(t *testing.T, v *Vault) { meta(t, v, `"version": 1`, `"version": 1, "hardware": "tpm"`) }, fileMeta},
		"vault.json with a new key source": {func(t *testing.T, v *Vault) {
			meta(t, v, `"key_source": "keychain"`, `"key_source": "tpm"`)
		}, fileMeta},
	} {
		t.Run(name, func(t *testing.T) {
			v, _ := openMem(t)
			mustUpdate(t, v, testAcct, fakeRecord())
			tc.damage(t, v)
			before := map[string][]byte{}
			for _, n := range []string{fileMeta, fileTokens} {
				before[n], _ = os.ReadFile(v.path(n))
			}
			v2 := mustOpen(t, Options{Dir: v.Dir(), Keychain: v.kc})
			_, err := v2.Get(ctx, testAcct)
			ne, ok := errors.AsType[*NewerError](err)
			if !ok || !errors.Is(err, ErrNewer) || errors.Is(err, ErrCorrupt) || ne.File != tc.file {
				t.Fatalf("Get = %v, want a *NewerError for %s", err, tc.file)
			}
			if strings.Contains(err.Error(), "CONTENT") || strings.Contains(err.Error(), "tpm") {
				t.Fatalf("the error quotes the file: %v", err)
			}
			if st := v2.Status(ctx); tc.file == fileMeta && !strings.Contains(st.Problem, "vault.json was written by a newer relay") {
				t.Fatalf("status: %q", st.Problem)
			}
			if err := v2.Update(ctx, testAcct, func(*Record) (*Record, error) { return fakeRecord(), nil }); !errors.Is(err, ErrNewer) {
				t.Fatalf("Update = %v, want ErrNewer", err)
			}
			for n, b := range before {
				if got, _ := os.ReadFile(v.path(n)); !bytes.Equal(got, b) {
					t.Fatalf("%s changed", n)
				}
			}
			if names := testkit.DirNames(t, v.Dir()); slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, ".corrupt-") }) {
				t.Fatalf("files moved aside: %v", names)
			}
			if _, err := v2.Wipe(ctx); err != nil || exists(v.path(fileTokens)) || exists(v.path(fileMeta)) {
				t.Fatalf("Wipe = %v; files left: %v", err, testkit.DirNames(t, v.Dir()))
			}
		})
	}
}
