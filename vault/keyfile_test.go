//go:build unix

package vault

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/zalando/go-keyring"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/faultfs"
	"github.com/keyrelay/keyrelay/platform"
)

// newKeyPath returns a directory of the user's own (0700) and a key file
// path in it that does not exist yet.
func newKeyPath(t *testing.T) (dir, path string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "keys")
	testkit.NoErr(t, os.Mkdir(dir, 0o700))
	return dir, filepath.Join(dir, "vault-key.txt")
}

// noticed returns a context whose vault notices are appended to *said.
func noticed(said *[]string) context.Context {
	return WithNotice(context.Background(), func(m string) { *said = append(*said, m) })
}

func fileBytes(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	testkit.NoErr(t, err)
	return b
}

// TestFirstLoginCreatesKeyFile: with RELAY_VAULT_KEY=file:PATH and no file
// there, the first login makes a new age identity at PATH (0600, whole, no
// temporary file left) and says so once, without the key; the vault is
// bound to it, later vaults read it, and after a wipe (logout) the next
// first login uses the same file again.
func TestFirstLoginCreatesKeyFile(t *testing.T) {
	dir, path := newKeyPath(t)
	data := newDir(t)
	var said []string
	ctx := noticed(&said)
	v := mustOpen(t, Options{Dir: data, KeySpec: "file:" + path, Keychain: NewMemKeychain()})
	testkit.NoErr(t, v.Prepare(ctx), "Prepare (a login's first step)")

	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want a regular file, 0600", err, fi)
	}
	key := fileBytes(t, path)
	id, err := parseIdentity("key file", key)
	testkit.NoErr(t, err)
	if mustMeta(t, v).Recipient != id.Recipient().String() {
		t.Fatal("vault.json does not name the new key's recipient")
	}
	want := "created a new vault key at " + path + " (mode 0600); keep it safe: without it the vault cannot be read"
	if !slices.Equal(said, []string{want}) {
		t.Fatalf("notices %q, want %q", said, want)
	}
	if names := testkit.DirNames(t, dir); !slices.Equal(names, []string{"vault-key.txt"}) {
		t.Fatalf("the key directory holds %v", names)
	}

	tok := fakeToken("access")
	testkit.NoErr(t, v.Update(ctx, testAcct, setAccess(tok)))
	v2 := mustOpen(t, Options{Dir: data, KeySpec: "file:" + path, Keychain: NewMemKeychain()})
	if got, err := v2.Get(ctx, testAcct); err != nil || got.AccessToken.Reveal() != tok {
		t.Fatalf("a second vault cannot read the tokens: %v", err)
	}
	_, err = v2.Wipe(ctx)
	testkit.NoErr(t, err)
	v3 := mustOpen(t, Options{Dir: data, KeySpec: "file:" + path, Keychain: NewMemKeychain()})
	testkit.NoErr(t, v3.Update(ctx, testAcct, setAccess(tok)))
	if !bytes.Equal(fileBytes(t, path), key) || mustMeta(t, v3).Recipient != id.Recipient().String() {
		t.Fatal("the key file changed, or the new vault does not use it")
	}
	if len(said) != 1 {
		t.Fatalf("notices after the first: %q", said[1:])
	}
}

// Without a notice callback (the stdio server), the notice goes to the
// log, still without the key.
func TestNewKeyFileNoticeIsLoggedWithoutCallback(t *testing.T) {
	_, path := newKeyPath(t)
	var log bytes.Buffer
	v := mustOpen(t, Options{Dir: newDir(t), KeySpec: "file:" + path, Keychain: NewMemKeychain(),
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	testkit.NoErr(t, v.Prepare(context.Background()))
	if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), "created a new vault key at "+path) {
		t.Fatalf("log: %s", log.String())
	}
	if strings.Contains(log.String(), "AGE-SECRET-KEY") {
		t.Fatal("the log holds the key")
	}
}

// An existing file is always used as it is, never replaced: not even
// when it holds no key, or is a dangling symlink.
func TestKeyFileNeverReplaced(t *testing.T) {
	dir, path := newKeyPath(t)
	testkit.NoErr(t, os.WriteFile(path, []byte("fake-not-a-key-XYZZY\n"), 0o600))
	v := mustOpen(t, Options{Dir: newDir(t), KeySpec: "file:" + path, Keychain: NewMemKeychain()})
	err := v.Prepare(context.Background())
	wantErr(t, err, ErrKeySource)
	if strings.Contains(err.Error(), "XYZZY") || string(fileBytes(t, path)) != "fake-not-a-key-XYZZY\n" {
		t.Fatalf("the file was quoted or changed: %v", err)
	}
	wantOnlyLock(t, v.Dir(), "refused key file")

	link := filepath.Join(dir, "link")
	testkit.NoErr(t, os.Symlink(filepath.Join(dir, "target"), link))
	v = mustOpen(t, Options{Dir: newDir(t), KeySpec: "file:" + link, Keychain: NewMemKeychain()})
	wantErr(t, v.Prepare(context.Background()), ErrInsecure)
	if _, err := os.Lstat(filepath.Join(dir, "target")); !os.IsNotExist(err) {
		t.Fatal("a key file was created through a symlink")
	}
}

// TestNewKeyFileRefused: no key file is made where another user could
// swap it (a directory writable by group or other, /tmp-like, another
// user's), in a missing directory (an unmounted volume?), or at a
// relative path. Nothing is written anywhere, the directory's mode is
// left alone, and the error names the directory and the fix.
func TestNewKeyFileRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T, dir string) // dir exists, 0700
		path    func(dir string) string
		want    error
		wantMsg string
	}{
		{"group-writable directory", chmod(0o770), inDir, ErrInsecure, "is writable by group or other users (mode 0770); run chmod go-w"},
		{"world-writable directory", chmod(0o777), inDir, ErrInsecure, "is writable by group or other users (mode 0777)"},
		{"sticky world-writable directory", chmod(fs.ModeSticky | 0o777), inDir, ErrInsecure, "is writable by group or other users"},
		{"another user's directory", func(t *testing.T, dir string) { testkit.ChownToOther(t, dir) }, inDir, ErrInsecure,
			"is owned by uid 65534, not by the current user (uid 0); choose a directory of your own"},
		{"missing directory", nil, func(dir string) string { return filepath.Join(dir, "gone", "k.txt") }, ErrKeySource, "mkdir -m 700 "},
		{"relative path", nil, func(string) string { return "keys/k.txt" }, ErrKeySource, "only at an absolute path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := newKeyPath(t)
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			fi, _ := os.Stat(dir)
			path := tc.path(dir)
			var said []string
			v := mustOpen(t, Options{Dir: newDir(t), KeySpec: "file:" + path, Keychain: NewMemKeychain()})
			err := v.Update(noticed(&said), testAcct, setAccess(fakeToken("access")))
			wantErr(t, err, tc.want)
			if !strings.Contains(err.Error(), tc.wantMsg) || (tc.want == ErrInsecure && !strings.Contains(err.Error(), dir)) {
				t.Fatalf("error %q should name the directory and say %q", err, tc.wantMsg)
			}
			if names := testkit.DirNames(t, dir); len(names) != 0 || len(said) != 0 {
				t.Fatalf("the key directory holds %v; notices %q", names, said)
			}
			if now, _ := os.Stat(dir); now.Mode() != fi.Mode() {
				t.Fatalf("the directory's mode went from %v to %v", fi.Mode(), now.Mode())
			}
			wantOnlyLock(t, v.Dir(), "refused key file")
			if st := v.Status(context.Background()); st.Problem == "" || st.KeyNote != "" {
				t.Fatalf("Status names no problem: %+v", st)
			}
		})
	}
}

func chmod(m fs.FileMode) func(*testing.T, string) {
	return func(t *testing.T, dir string) { testkit.NoErr(t, os.Chmod(dir, m)) }
}

func inDir(dir string) string { return filepath.Join(dir, "vault-key.txt") }

// TestNewKeyFileCrashLeavesNoFile: a relay killed after writing and
// syncing the new key's temporary file, before linking it, leaves no file
// at PATH (no partial key to trip on); the next first login makes the key
// and removes the crashed one's temporary file.
func TestNewKeyFileCrashLeavesNoFile(t *testing.T) {
	dir, path := newKeyPath(t)
	data := newDir(t)
	st := waitHelper(t, helper(t, "crash-keyfile", "VAULT_TEST_DIR="+data, "VAULT_TEST_KEYSPEC=file:"+path, "VAULT_TEST_TOKEN="+fakeToken("access")))
	if st.Success() {
		t.Fatal("crash helper exited normally; the hook did not run")
	}
	names := testkit.DirNames(t, dir)
	if len(names) != 1 || !platform.IsAtomicTemp(names[0]) || !strings.HasPrefix(names[0], ".vault-key.txt.tmp-") {
		t.Fatalf("want only the crashed write's temporary file, got %v", names)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("a crash left a key file: %v", err)
	}
	wantOnlyLock(t, data, "after the crash")
	v := mustOpen(t, Options{Dir: data, KeySpec: "file:" + path, Keychain: NewMemKeychain()})
	mustUpdate(t, v, testAcct, setAccessRecord(fakeToken("access")))
	if names := testkit.DirNames(t, dir); !slices.Equal(names, []string{"vault-key.txt"}) {
		t.Fatalf("after the next login the key directory holds %v", names)
	}
}

// TestNewKeyFileOnFullDisk: the key's directory full (a real tmpfs) fails
// the first login with the cause and leaves no file, temporary or not;
// with space again, the login makes the key.
func TestNewKeyFileOnFullDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	faultfs.MountTmpfs(t, dir)
	path := filepath.Join(dir, "vault-key.txt")
	free := faultfs.Fill(t, dir)
	v := mustOpen(t, Options{Dir: newDir(t), KeySpec: "file:" + path, Keychain: NewMemKeychain()})
	err := v.Prepare(context.Background())
	testkit.WantIs(t, err, syscall.ENOSPC, "Prepare on a full disk")
	if names := slices.DeleteFunc(testkit.DirNames(t, dir), func(n string) bool { return n == faultfs.FillerName }); len(names) != 0 {
		t.Fatalf("a failed write left %v", names)
	}
	wantOnlyLock(t, v.Dir(), "failed first login")
	free()
	testkit.NoErr(t, v.Prepare(context.Background()), "Prepare with space again")
	if _, err := parseIdentity("key file", fileBytes(t, path)); err != nil {
		t.Fatal(err)
	}
}

// Reads, the status, and a wipe (logout) never make a key file.
func TestOnlyAFirstWriteCreatesKeyFile(t *testing.T) {
	dir, path := newKeyPath(t)
	ctx := context.Background()
	v := mustOpen(t, Options{Dir: newDir(t), KeySpec: "file:" + path, Keychain: NewMemKeychain()})
	wantErr(t, testkit.ErrOf(v.Get(ctx, testAcct)), ErrNotFound)
	testkit.NoErr(t, testkit.ErrOf(v.Accounts(ctx)))
	testkit.NoErr(t, v.Update(ctx, testAcct, func(*Record) (*Record, error) { return nil, nil }), "deleting nothing")
	st := v.Status(ctx)
	if st.Problem != "" || st.KeyNote != "the key file "+path+" does not exist yet; the first login creates it" {
		t.Fatalf("Status = %+v", st)
	}
	testkit.NoErr(t, testkit.ErrOf(v.Wipe(ctx)))
	if names := testkit.DirNames(t, dir); len(names) != 0 {
		t.Fatalf("a read made %v", names)
	}
}

func TestKeySpecExpandsHome(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	for in, want := range map[string]string{
		"file:~/k.txt":   filepath.Join(home, "k.txt"),
		"file:~x/k.txt":  "~x/k.txt",
		"file:/a/~/k":    "/a/~/k",
		"file:rel/k.txt": "rel/k.txt",
	} {
		if s, err := parseKeySpec(in); err != nil || s.arg != want {
			t.Errorf("parseKeySpec(%q) = %q, %v; want %q", in, s.arg, err, want)
		}
	}
}

// TestNoKeySourceErrorIsThreeLines: with no keychain and nothing set, a
// first login's error is three short lines: what is wrong (with the
// cause), then a line to paste for each choice. Pasted into a shell, the
// file: line sets RELAY_VAULT_KEY to a key file in the home directory,
// outside the data directory, even when its path has a space.
func TestNoKeySourceErrorIsThreeLines(t *testing.T) {
	kc := NewMemKeychain()
	kc.SetErr(mapKeyringError("set", keyring.ErrUnsupportedPlatform))
	home := filepath.Join(t.TempDir(), "home of u")
	t.Setenv("HOME", home)
	data := filepath.Join(t.TempDir(), "Application Support", "keyrelay")
	v := mustOpen(t, Options{Dir: data, Keychain: kc})
	err := v.Update(context.Background(), testAcct, setAccess(fakeToken("access")))
	wantErr(t, err, ErrNoKeySource, ErrUnavailable)
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 || lines[0] != "no OS keychain in this session (not supported on this OS); choose a key source:" ||
		lines[2] != "  export RELAY_VAULT_KEY=passphrase  # asked at login" || !strings.HasSuffix(lines[1], "  # created at first login") {
		t.Fatalf("error:\n%s", err)
	}
	out, shErr := exec.Command("sh", "-c", lines[1]+"\nprintf %s \"$RELAY_VAULT_KEY\"").Output()
	if shErr != nil || string(out) != "file:"+filepath.Join(home, SuggestedKeyFile) {
		t.Fatalf("the pasted line sets %q (%v)", out, shErr)
	}
	wantOnlyLock(t, data, "no key source")
}
