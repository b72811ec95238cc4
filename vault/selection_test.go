package vault

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

const testWorkFactor = 10 // scrypt: fast for tests; production uses age's default

func passFile(t *testing.T, pass string) string {
	return testkit.WriteTemp(t, "pass", pass+"\n", 0o600)
}

// exportKeyFileHint starts the no-keychain error's first suggestion: a
// POSIX shell line, or a PowerShell one on Windows.
var exportKeyFileHint = map[bool]string{false: "\n  export RELAY_VAULT_KEY=file:", true: "\n  $env:RELAY_VAULT_KEY = 'file:"}[runtime.GOOS == "windows"]

func errUnavailable() error { return fmt.Errorf("fake: %w", ErrUnavailable) }
func errLocked() error      { return fmt.Errorf("fake: %w", ErrLocked) }

// TestFirstLoginSelection covers every selection rule at the first write.
func TestFirstLoginSelection(t *testing.T) {
	spec, _ := keyFile(t)
	tests := []struct {
		name     string
		kcErr    error
		opts     Options
		wantKind Kind
		wantErr  []error
		wantMsg  string
	}{
		{name: "keychain by default", wantKind: KindKeychain},
		{name: "explicit keychain", opts: Options{KeySpec: "keychain"}, wantKind: KindKeychain},
		{name: "explicit file wins over keychain", opts: Options{KeySpec: spec}, wantKind: KindFile},
		{name: "explicit passphrase wins", opts: Options{KeySpec: "passphrase", PassphraseFile: passFile(t, "correct horse battery staple")}, wantKind: KindPassphrase},
		{name: "unavailable keychain falls back to configured passphrase", kcErr: errUnavailable(),
			opts: Options{PassphraseFile: passFile(t, "correct horse battery staple")}, wantKind: KindPassphrase},
		{name: "unavailable keychain with nothing configured fails closed", kcErr: errUnavailable(),
			wantErr: []error{ErrNoKeySource, ErrUnavailable}, wantMsg: exportKeyFileHint},
		{name: "locked keychain never falls back", kcErr: errLocked(),
			opts: Options{PassphraseFile: passFile(t, "correct horse battery staple")}, wantErr: []error{ErrLocked}},
		{name: "explicit keychain unavailable does not fall back", kcErr: errUnavailable(),
			opts: Options{KeySpec: "keychain", PassphraseFile: passFile(t, "x")}, wantErr: []error{ErrUnavailable}},
		{name: "passphrase without file or prompt", opts: Options{KeySpec: "passphrase"}, wantErr: []error{ErrKeySource},
			wantMsg: "RELAY_VAULT_PASSPHRASE_FILE"},
		{name: "missing key file", opts: Options{KeySpec: "file:/nonexistent/key"}, wantErr: []error{ErrKeySource}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc := NewMemKeychain()
			kc.SetErr(tt.kcErr)
			opts := tt.opts
			opts.Dir, opts.Keychain, opts.ScryptWorkFactor = newDir(t), kc, testWorkFactor
			v := mustOpen(t, opts)
			err := v.Update(context.Background(), testAcct, setAccess(fakeToken("access")))
			if tt.wantErr != nil {
				wantErr(t, err, tt.wantErr...)
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("message %q should contain %q", err, tt.wantMsg)
				}
				wantOnlyLock(t, v.Dir(), "failed first login")
				return
			}
			testkit.NoErr(t, err)
			if got := mustMeta(t, v).KeySource; got != tt.wantKind {
				t.Fatalf("recorded key source %q, want %q", got, tt.wantKind)
			}
			if st := v.Status(context.Background()); st.KeySource != tt.wantKind || !st.Recorded || st.Protects == "" {
				t.Fatalf("Status = %+v", st)
			}
			if (kc.Len() == 1) != (tt.wantKind == KindKeychain) {
				t.Fatalf("keychain holds %d items with key source %s", kc.Len(), tt.wantKind)
			}
		})
	}
}

// After the first login the recorded source is used; a source that becomes
// unreachable or a different RELAY_VAULT_KEY is an error, never a migration,
// and never moves the vault aside.
func TestRecordedSourceIsAlwaysUsed(t *testing.T) {
	ctx := context.Background()
	kc := NewMemKeychain()
	dir := newDir(t)
	v := mustOpen(t, Options{Dir: dir, Keychain: kc})
	tok := fakeToken("access")
	mustUpdate(t, v, testAcct, &Record{AccessToken: secret.New(tok)})
	spec, _ := keyFile(t)

	tests := []struct {
		name  string
		kcErr error
		opts  Options
		want  error
	}{
		{"keychain now unavailable", errUnavailable(), Options{PassphraseFile: passFile(t, "p")}, ErrUnavailable},
		{"keychain now locked", errLocked(), Options{}, ErrLocked},
		{"RELAY_VAULT_KEY names another source", nil, Options{KeySpec: spec}, ErrKeySource},
		{"RELAY_VAULT_KEY=passphrase", nil, Options{KeySpec: "passphrase", PassphraseFile: passFile(t, "p")}, ErrKeySource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc.SetErr(tt.kcErr)
			defer kc.SetErr(nil)
			opts := tt.opts
			opts.Dir, opts.Keychain = dir, kc
			v2 := mustOpen(t, opts)
			_, err := v2.Get(ctx, testAcct)
			wantErr(t, err, tt.want)
			testkit.WantIs(t, v2.Update(ctx, testAcct, setAccess("new")), tt.want, "Update")
			if names := testkit.DirNames(t, dir); len(names) != 3 { // vault.json, tokens.age, vault.lock
				t.Fatalf("data dir changed to %v", names)
			}
		})
	}
	v3 := mustOpen(t, Options{Dir: dir, Keychain: kc})
	if got, err := v3.Get(ctx, testAcct); err != nil || got.AccessToken.Reveal() != tok {
		t.Fatalf("vault no longer readable with its own source: %v", err)
	}
}

func TestFileKeySource(t *testing.T) {
	ctx := context.Background()
	spec, _ := keyFile(t)
	dir := newDir(t)
	v := mustOpen(t, Options{Dir: dir, KeySpec: spec, Keychain: NewMemKeychain()})
	mustUpdate(t, v, testAcct, fakeRecord())

	t.Run("RELAY_VAULT_KEY required later", func(t *testing.T) {
		v2 := mustOpen(t, Options{Dir: dir, Keychain: NewMemKeychain()})
		_, err := v2.Get(ctx, testAcct)
		wantErr(t, err, ErrKeySource)
		if !strings.Contains(err.Error(), "RELAY_VAULT_KEY=file:") {
			t.Fatalf("message %q should say what to set", err)
		}
	})
	t.Run("a different key is refused, not used", func(t *testing.T) {
		other, _ := keyFile(t)
		v2 := mustOpen(t, Options{Dir: dir, KeySpec: other, Keychain: NewMemKeychain()})
		_, err := v2.Get(ctx, testAcct)
		wantErr(t, err, ErrWrongKey)
		if !exists(filepath.Join(dir, fileTokens)) {
			t.Fatal("tokens.age was moved for a wrong key; the user can fix the setting")
		}
	})
	t.Run("group-readable key file refused", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("Windows keeps no group or other mode bits (os.Chmod sets only read-only), and keyrelay reads no ACLs (platform)")
		}
		p := strings.TrimPrefix(spec, "file:")
		os.Chmod(p, 0o644)
		defer os.Chmod(p, 0o600)
		v2 := mustOpen(t, Options{Dir: dir, KeySpec: spec, Keychain: NewMemKeychain()})
		_, err := v2.Get(ctx, testAcct)
		wantErr(t, err, ErrInsecure)
		if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "group or other") {
			t.Fatalf("unclear message: %v", err)
		}
	})
	t.Run("not an identity", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "k")
		os.WriteFile(p, []byte("fake-not-a-key-XYZZY\n"), 0o600)
		_, err := fileSource{path: p}.load(ctx, "")
		wantErr(t, err, ErrKeySource)
		if strings.Contains(err.Error(), "XYZZY") {
			t.Fatal("error quotes the key file")
		}
	})
}

func TestPassphraseSource(t *testing.T) {
	ctx := context.Background()
	dir := newDir(t)
	prompts := 0
	prompt := func(_ context.Context, p string) (secret.Value, error) {
		prompts++
		return secret.New("correct horse battery staple"), nil
	}
	v := mustOpen(t, Options{Dir: dir, KeySpec: "passphrase", Prompt: prompt, ScryptWorkFactor: testWorkFactor, Keychain: NewMemKeychain()})
	tok := fakeToken("access")
	mustUpdate(t, v, testAcct, &Record{AccessToken: secret.New(tok)})
	if prompts != 2 {
		t.Fatalf("new passphrase prompted %d times, want 2 (enter and confirm)", prompts)
	}
	mustUpdate(t, v, testAcct, &Record{AccessToken: secret.New(tok + "2")})
	if prompts != 2 {
		t.Fatal("passphrase asked again in the same process")
	}

	t.Run("server reads the passphrase file", func(t *testing.T) {
		v2 := mustOpen(t, Options{Dir: dir, PassphraseFile: passFile(t, "correct horse battery staple"), Keychain: NewMemKeychain()})
		if got, err := v2.Get(ctx, testAcct); err != nil || got.AccessToken.Reveal() != tok+"2" {
			t.Fatalf("Get = %v", err)
		}
	})
	t.Run("wrong passphrase", func(t *testing.T) {
		v2 := mustOpen(t, Options{Dir: dir, PassphraseFile: passFile(t, "wrong"), Keychain: NewMemKeychain()})
		_, err := v2.Get(ctx, testAcct)
		wantErr(t, err, ErrWrongPassphrase)
		if !exists(filepath.Join(dir, fileTokens)) || !exists(filepath.Join(dir, fileKey)) {
			t.Fatal("a wrong passphrase moved the vault aside")
		}
	})
	t.Run("mismatched confirmation", func(t *testing.T) {
		n := 0
		p := func(context.Context, string) (secret.Value, error) {
			n++
			return secret.New(fmt.Sprint("correct horse battery staple ", n)), nil
		}
		v2 := mustOpen(t, Options{Dir: newDir(t), KeySpec: "passphrase", Prompt: p, Keychain: NewMemKeychain()})
		wantErr(t, v2.Update(ctx, testAcct, setAccess("x")), ErrKeySource)
	})
	t.Run("key.age gone", func(t *testing.T) {
		os.Remove(filepath.Join(dir, fileKey))
		v2 := mustOpen(t, Options{Dir: dir, PassphraseFile: passFile(t, "correct horse battery staple"), Keychain: NewMemKeychain()})
		_, err := v2.Get(ctx, testAcct)
		wantErr(t, err, ErrCorrupt, ErrKeyLost)
		testkit.NoErr(t, v2.Update(ctx, testAcct, setAccess("new")), "login after a lost key.age")
	})
}

func TestInvalidKeySpec(t *testing.T) {
	for _, s := range []string{"bogus", "file:", "cmd:", "cmd:'unterminated", "KEYCHAIN"} {
		testkit.ExpectIs(t, testkit.ErrOf(Open(context.Background(), Options{Dir: newDir(t), KeySpec: s})), ErrKeySource, "Open(KeySpec=%q)", s)
	}
}

func TestStatusBeforeFirstLogin(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		kcErr   error
		opts    Options
		want    Kind
		problem bool
	}{
		{"keychain", nil, Options{}, KindKeychain, false},
		{"unavailable, nothing configured", errUnavailable(), Options{}, "", true},
		{"unavailable, passphrase file", errUnavailable(), Options{PassphraseFile: passFile(t, "correct horse battery staple")}, KindPassphrase, false},
		{"unavailable, unreadable passphrase file", errUnavailable(), Options{PassphraseFile: "/nonexistent/p"}, KindPassphrase, true},
		{"unavailable, weak passphrase in the file", errUnavailable(), Options{PassphraseFile: passFile(t, "hunter2")}, KindPassphrase, true},
		{"unavailable, explicit keychain", errUnavailable(), Options{KeySpec: "keychain"}, KindKeychain, true},
		{"unavailable, keychain required by policy", errUnavailable(), Options{RequireKeychain: true, PassphraseFile: passFile(t, "correct horse battery staple")}, KindKeychain, true},
		{"explicit passphrase, no file: login asks", errUnavailable(), Options{KeySpec: "passphrase"}, KindPassphrase, false},
		{"locked", errLocked(), Options{}, KindKeychain, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc := NewMemKeychain()
			kc.SetErr(tt.kcErr)
			opts := tt.opts
			opts.Dir, opts.Keychain = newDir(t), kc
			v := mustOpen(t, opts)
			st := v.Status(ctx)
			if st.KeySource != tt.want || st.Recorded || st.Exists || (st.Problem != "") != tt.problem {
				t.Fatalf("Status = %+v", st)
			}
			if kc.Len() != 0 {
				t.Fatal("Status wrote to the keychain")
			}
		})
	}
}

// TestNoKeySourceLinesPerShell: the lines to paste are POSIX shell, or
// PowerShell on Windows, each quoting a path with a space and a quote.
func TestNoKeySourceLinesPerShell(t *testing.T) {
	e := &NoKeySourceError{Why: "no session bus", KeyFile: `C:\Users\O'Neil Smith\.keyrelay\vault.key`}
	for goos, want := range map[string][2]string{
		"linux":   {`  export 'RELAY_VAULT_KEY=file:C:\Users\O'\''Neil Smith\.keyrelay\vault.key'  # created at first login`, "  export RELAY_VAULT_KEY=passphrase  # asked at login"},
		"windows": {`  $env:RELAY_VAULT_KEY = 'file:C:\Users\O''Neil Smith\.keyrelay\vault.key'  # created at first login`, "  $env:RELAY_VAULT_KEY = 'passphrase'  # asked at login"},
	} {
		lines := strings.Split(e.text(goos), "\n")
		if len(lines) != 3 || lines[0] != "no OS keychain in this session (no session bus); choose a key source:" || lines[1] != want[0] || lines[2] != want[1] {
			t.Errorf("%s:\n%s", goos, e.text(goos))
		}
	}
}
