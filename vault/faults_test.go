package vault

// Fault injection at the library level: the data directory full or
// read-only (real tmpfs mounts; needs root), and the keychain silent or
// locked (an in-process hanging backend, and a real gnome-keyring on a
// private D-Bus, driven through helper processes because go-keyring keeps
// one session bus connection per process).

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/faultfs"
)

// dataFiles maps the files of dir, but the filler, to their content.
func dataFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range testkit.DirNames(t, dir) {
		if name == faultfs.FillerName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		testkit.NoErr(t, err)
		out[name] = string(b)
	}
	return out
}

func sameFiles(t *testing.T, what string, dir string, want map[string]string) {
	t.Helper()
	got := dataFiles(t, dir)
	if len(got) != len(want) {
		t.Fatalf("%s: the data directory went from %d to %d files: %v", what, len(want), len(got), testkit.DirNames(t, dir))
	}
	for name, content := range want {
		if got[name] != content {
			t.Fatalf("%s: %s changed", what, name)
		}
	}
}

// checkOldTokens checks that tokens.age in files decrypts with id, without
// the vault's lock, to a state holding want for testAcct.
func checkOldTokens(t *testing.T, what string, files map[string]string, key string, want *Record) {
	t.Helper()
	id, err := parseIdentity("key file", []byte(key))
	testkit.NoErr(t, err)
	st, err := decryptState([]byte(files[fileTokens]), id)
	if err != nil {
		t.Fatalf("%s: the old tokens.age does not decrypt: %v", what, err)
	}
	r, ok := st[testAcct]
	if !ok || !r.AccessToken.Equal(want.AccessToken) || !r.RefreshToken.Equal(want.RefreshToken) {
		t.Fatalf("%s: the old tokens.age does not hold the old record", what)
	}
}

// wantOSError checks that err wraps errno, is one line and starts
// with the vault's context.
func wantOSError(t *testing.T, err error, errno syscall.Errno) {
	t.Helper()
	testkit.WantIs(t, err, errno, "vault error")
	if msg := err.Error(); !strings.HasPrefix(msg, "vault: ") || strings.Contains(msg, "\n") || !strings.Contains(msg, errno.Error()) {
		t.Fatalf("err = %q; want one line starting with \"vault: \" naming %q", msg, errno.Error())
	}
}

// TestFault_VaultDiskFull: an Update on a full file system fails with
// ENOSPC and leaves the old vault byte-identical, decryptable and readable,
// with no temporary file; freed space makes the next Update work. A first
// write on a full disk leaves nothing but the lock file.
func TestFault_VaultDiskFull(t *testing.T) {
	ctx := context.Background()
	spec, id := keyFile(t)
	t.Run("update", func(t *testing.T) {
		dir := newDir(t)
		faultfs.MountTmpfs(t, dir)
		v := mustOpen(t, Options{Dir: dir, KeySpec: spec})
		old := fakeRecord()
		mustUpdate(t, v, testAcct, old)
		files := dataFiles(t, dir)
		free := faultfs.Fill(t, dir)

		err := v.Update(ctx, testAcct, setAccess(fakeToken("access")))
		wantOSError(t, err, syscall.ENOSPC)
		sameFiles(t, "disk full", dir, files)
		checkOldTokens(t, "disk full", files, id.String(), old)
		v2 := mustOpen(t, Options{Dir: dir, KeySpec: spec})
		if r, err := v2.Get(ctx, testAcct); err != nil || !r.RefreshToken.Equal(old.RefreshToken) {
			t.Fatalf("Get after a failed write = %v", err)
		}

		free()
		tok := fakeToken("access")
		testkit.NoErr(t, v2.Update(ctx, testAcct, setAccess(tok)), "Update with space again")
		if r, err := v.Get(ctx, testAcct); err != nil || r.AccessToken.Reveal() != tok {
			t.Fatalf("Get after recovery = %v", err)
		}
	})
	t.Run("first write", func(t *testing.T) {
		dir := newDir(t)
		faultfs.MountTmpfs(t, dir)
		faultfs.Fill(t, dir)
		v := mustOpen(t, Options{Dir: dir, KeySpec: spec})
		err := v.Update(ctx, testAcct, setAccess(fakeToken("access")))
		wantOSError(t, err, syscall.ENOSPC)
		wantOnlyLock(t, dir, "a first write on a full disk")
	})
}

// TestFault_VaultReadOnlyDir: with the data directory remounted read-only,
// Update fails with EROFS and the vault stays byte-identical and
// decryptable; read-write again, it is read and written as before.
func TestFault_VaultReadOnlyDir(t *testing.T) {
	ctx := context.Background()
	spec, id := keyFile(t)
	dir := newDir(t)
	faultfs.MountTmpfs(t, dir)
	v := mustOpen(t, Options{Dir: dir, KeySpec: spec})
	old := fakeRecord()
	mustUpdate(t, v, testAcct, old)
	files := dataFiles(t, dir)
	faultfs.Remount(t, dir, "ro")
	t.Cleanup(func() { faultfs.Remount(t, dir, "rw") }) // before the unmount: cleanups run last first

	err := v.Update(ctx, testAcct, setAccess(fakeToken("access")))
	wantOSError(t, err, syscall.EROFS)
	testkit.WantIs(t, v.Prepare(ctx), syscall.EROFS, "Prepare on a read-only directory (a login would be wasted)")
	sameFiles(t, "read-only", dir, files)
	checkOldTokens(t, "read-only", files, id.String(), old)
	if _, err := v.Get(ctx, testAcct); err != nil {
		t.Logf("note: Get on a read-only data directory fails too (the lock file is opened read-write): %v", err)
	}

	faultfs.Remount(t, dir, "rw")
	if r, err := v.Get(ctx, testAcct); err != nil || !r.RefreshToken.Equal(old.RefreshToken) {
		t.Fatalf("Get read-write again = %v", err)
	}
	testkit.NoErr(t, v.Update(ctx, testAcct, setAccess(fakeToken("access"))), "Update read-write again")
}

// silentKeyring is a keyringBackend that works in memory until silenced,
// then never answers (a keyring waiting for an unlock dialog nobody sees).
type silentKeyring struct {
	mu      sync.Mutex
	items   map[string]string
	silent  atomic.Bool
	release chan struct{}
}

// do runs fn on the items, or once silenced waits for the release.
func (f *silentKeyring) do(fn func()) error {
	if f.silent.Load() {
		<-f.release
		return errors.New("released")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
	return nil
}

func (f *silentKeyring) Get(s, u string) (v string, err error) {
	ok := false
	if err := f.do(func() { v, ok = f.items[s+"/"+u] }); err != nil || ok {
		return v, err
	}
	return "", keyring.ErrNotFound
}

func (f *silentKeyring) Set(s, u, p string) error { return f.do(func() { f.items[s+"/"+u] = p }) }
func (f *silentKeyring) DeleteAll(string) error   { return f.do(func() { clear(f.items) }) }

// TestFault_KeychainSilentNoFallback: the OS keychain wrapper over a
// backend that stops answering. With a passphrase file configured (the
// one fallback there is), reads and writes of an existing keychain vault,
// and a first write, fail with ErrLocked within the timeout; nothing is
// written: no key.age, no passphrase vault, the files byte-identical.
func TestFault_KeychainSilentNoFallback(t *testing.T) {
	ctx := context.Background()
	be := &silentKeyring{items: map[string]string{}, release: make(chan struct{})}
	t.Cleanup(func() { close(be.release) })
	const timeout = 200 * time.Millisecond
	kc := &OSKeychain{Timeout: timeout, backend: be, busCheck: func() error { return nil }}
	opts := func(dir string) Options {
		return Options{Dir: dir, Keychain: kc, PassphraseFile: passFile(t, "correct horse battery staple"), ScryptWorkFactor: testWorkFactor}
	}
	dir := newDir(t)
	v := mustOpen(t, opts(dir))
	mustUpdate(t, v, testAcct, fakeRecord())
	if m := mustMeta(t, v); m.KeySource != KindKeychain {
		t.Fatalf("key source %q, want keychain", m.KeySource)
	}
	files := dataFiles(t, dir)
	be.silent.Store(true)

	v2 := mustOpen(t, opts(dir)) // a new process: no cached key
	first := newDir(t)
	v3 := mustOpen(t, opts(first))
	for name, call := range map[string]func() error{
		"get":         func() error { _, err := v2.Get(ctx, testAcct); return err },
		"update":      func() error { return v2.Update(ctx, testAcct, setAccess(fakeToken("access"))) },
		"prepare":     func() error { return v2.Prepare(ctx) },
		"first write": func() error { return v3.Update(ctx, testAcct, setAccess(fakeToken("access"))) },
	} {
		start := time.Now()
		err := call()
		if took := time.Since(start); took > timeout+time.Second {
			t.Errorf("%s took %v; the keychain timeout is %v", name, took, timeout)
		}
		if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "no answer within") {
			t.Errorf("%s = %v; want ErrLocked saying there was no answer", name, err)
		}
	}
	sameFiles(t, "silent keychain", dir, files)
	wantOnlyLock(t, first, "a first write on a silent keychain")
}
