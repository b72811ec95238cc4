//go:build unix

package vault

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestStatusNamesKeySourceProblemsBeforeFirstLogin: whatever would make a
// first login fail with the configured key file or key command, Status
// names; a missing key file that the login can create is no problem, and
// Status says it will be created. Status creates nothing.
func TestStatusNamesKeySourceProblemsBeforeFirstLogin(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	for _, tc := range []struct {
		name    string
		spec    func(t *testing.T) string
		problem string // "" for none
		note    string
	}{
		{"key file", func(t *testing.T) string { s, _ := keyFile(t); return s }, "", ""},
		{"missing key file, creatable", func(t *testing.T) string { _, p := newKeyPath(t); return "file:" + p }, "", "does not exist yet; the first login creates it"},
		{"missing key file, shared directory", func(t *testing.T) string {
			dir, p := newKeyPath(t)
			os.Chmod(dir, 0o777)
			return "file:" + p
		}, "is writable by group or other users", ""},
		{"missing key file, missing directory", func(t *testing.T) string { return "file:/nonexistent/keys/k.txt" }, "nor does its directory", ""},
		{"missing key file, relative path", func(t *testing.T) string { return "file:k.txt" }, "only at an absolute path", ""},
		{"group-readable key file", func(t *testing.T) string {
			s, _ := keyFile(t)
			os.Chmod(strings.TrimPrefix(s, "file:"), 0o640)
			return s
		}, "is accessible by group or other users", ""},
		{"key file without a key", func(t *testing.T) string {
			return "file:" + testkit.WriteTemp(t, "k", "fake-not-a-key\n", 0o600)
		}, "is not an age X25519 identity", ""},
		{"key command", func(t *testing.T) string { return "cmd:" + script(t, "echo "+id.String()) }, "", ""},
		{"failing key command", func(t *testing.T) string { return "cmd:" + script(t, "exit 3") }, "exit status 3", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec(t)
			kc := NewMemKeychain()
			v := mustOpen(t, Options{Dir: newDir(t), KeySpec: spec, Keychain: kc})
			st := v.Status(context.Background())
			if !strings.Contains(st.Problem, tc.problem) || (tc.problem == "") != (st.Problem == "") ||
				!strings.Contains(st.KeyNote, tc.note) || (tc.note == "") != (st.KeyNote == "") {
				t.Fatalf("Status = problem %q, note %q; want %q, %q", st.Problem, st.KeyNote, tc.problem, tc.note)
			}
			if st.Exists || st.Locked || kc.Len() != 0 {
				t.Fatalf("Status = %+v", st)
			}
			if names := testkit.DirNames(t, v.Dir()); len(names) != 0 {
				t.Fatalf("Status wrote %v", names)
			}
			if p, ok := strings.CutPrefix(spec, "file:"); ok && tc.note != "" {
				if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
					t.Fatal("Status created the key file")
				}
			}
			// What Status calls no problem, a first login must manage.
			if err := v.Prepare(context.Background()); (err == nil) != (tc.problem == "") {
				t.Fatalf("Status says %q but Prepare says %v", st.Problem, err)
			}
		})
	}
}

// TestStatusOfAnExistingVault: Status tries the recorded key source as a
// read would, and names what fails; a passphrase vault without a
// passphrase file is locked, and Status never prompts. Status moves
// nothing aside, and a key it loaded serves the next read.
func TestStatusOfAnExistingVault(t *testing.T) {
	ctx := context.Background()
	noPrompt := func(context.Context, string) (secret.Value, error) {
		t.Error("Status prompted")
		return secret.Value{}, errors.New("no")
	}
	const pass = "correct horse battery staple"
	for _, tc := range []struct {
		name    string
		opts    func(t *testing.T) Options                      // for the first login
		after   func(t *testing.T, o *Options, kc *MemKeychain) // then, for Status
		problem string
		locked  bool
	}{
		{"key file", keyFileOpts, nil, "", false},
		{"key file gone", keyFileOpts, func(t *testing.T, o *Options, _ *MemKeychain) {
			os.Remove(strings.TrimPrefix(o.KeySpec, "file:"))
		}, "does not exist; this vault's key was in it: restore the file, or run relay logout", false},
		{"another key in the key file", keyFileOpts, func(t *testing.T, o *Options, _ *MemKeychain) {
			o.KeySpec, _ = keyFile(t)
		}, "returned a different key", false},
		{"RELAY_VAULT_KEY unset for a key-file vault", keyFileOpts, func(t *testing.T, o *Options, _ *MemKeychain) {
			o.KeySpec = ""
		}, "set RELAY_VAULT_KEY=file:", false},
		{"keychain", nil, nil, "", false},
		{"keychain locked", nil, func(t *testing.T, _ *Options, kc *MemKeychain) { kc.SetErr(errLocked()) }, "fake: vault: keychain locked", false},
		{"keychain item gone", nil, func(t *testing.T, _ *Options, kc *MemKeychain) { kc.DeleteAll(ctx) }, "vault key is gone", false},
		{"passphrase, no file", passOpts(pass), func(t *testing.T, o *Options, _ *MemKeychain) {
			o.PassphraseFile, o.Prompt = "", noPrompt
		}, "", true},
		{"passphrase file", passOpts(pass), func(t *testing.T, o *Options, _ *MemKeychain) { o.Prompt = noPrompt }, "", false},
		{"wrong passphrase file", passOpts(pass), func(t *testing.T, o *Options, _ *MemKeychain) {
			o.PassphraseFile, o.Prompt = passFile(t, "fake wrong passphrase xyz"), noPrompt
		}, "wrong passphrase", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kc := NewMemKeychain()
			var opts Options
			if tc.opts != nil {
				opts = tc.opts(t)
			}
			opts.Dir, opts.Keychain, opts.ScryptWorkFactor = newDir(t), kc, testWorkFactor
			tok := fakeToken("access")
			mustUpdate(t, mustOpen(t, opts), testAcct, setAccessRecord(tok))
			if tc.after != nil {
				tc.after(t, &opts, kc)
			}
			before := testkit.DirNames(t, opts.Dir)
			v := mustOpen(t, opts)
			st := v.Status(ctx)
			if !strings.Contains(st.Problem, tc.problem) || (tc.problem == "") != (st.Problem == "") || st.Locked != tc.locked {
				t.Fatalf("Status = problem %q, locked %v; want %q, %v", st.Problem, st.Locked, tc.problem, tc.locked)
			}
			if !st.Exists || !st.HasTokens || !st.Recorded || st.KeyNote != "" {
				t.Fatalf("Status = %+v", st)
			}
			if after := testkit.DirNames(t, opts.Dir); !slices.Equal(before, after) {
				t.Fatalf("Status changed the data directory from %v to %v", before, after)
			}
			if tc.problem != "" || tc.locked {
				return
			}
			kc.SetErr(errLocked()) // the key Status loaded serves the read
			if r, err := v.Get(ctx, testAcct); err != nil || r.AccessToken.Reveal() != tok {
				t.Fatalf("Get after Status: %v", err)
			}
		})
	}
}

func keyFileOpts(t *testing.T) Options { s, _ := keyFile(t); return Options{KeySpec: s} }

func passOpts(pass string) func(t *testing.T) Options {
	return func(t *testing.T) Options { return Options{KeySpec: "passphrase", PassphraseFile: passFile(t, pass)} }
}

// The no-keychain suggestion is a key file in the home directory that a
// first login can create: with it set, status sees no problem.
func TestStatusSuggestsAKeyFileThatWorks(t *testing.T) {
	kc := NewMemKeychain()
	kc.SetErr(errUnavailable())
	home := t.TempDir()
	t.Setenv("HOME", home)
	data := newDir(t)
	v := mustOpen(t, Options{Dir: data, Keychain: kc})
	st := v.Status(context.Background())
	want := "set RELAY_VAULT_KEY=file:" + filepath.Join(home, SuggestedKeyFile) + " (created at first login) or RELAY_VAULT_KEY=passphrase"
	if !strings.Contains(st.Problem, want) || st.KeySource != "" {
		t.Fatalf("Status = %+v", st)
	}
	v2 := mustOpen(t, Options{Dir: data, Keychain: kc, KeySpec: "file:" + filepath.Join(home, SuggestedKeyFile)})
	if st := v2.Status(context.Background()); st.Problem != "" || st.KeyNote == "" {
		t.Fatalf("Status with the suggestion = %+v", st)
	}
	testkit.NoErr(t, v2.Prepare(context.Background()), "a first login with the suggestion")
}
