//go:build unix

package platform

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func mode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	testkit.NoErr(t, err)
	return fi.Mode().Perm()
}

// wantRefusal checks err is a *PermissionError naming path and problem.
func wantRefusal(t *testing.T, err error, path, problem string) {
	t.Helper()
	var pe *PermissionError
	if !errors.As(err, &pe) || !errors.Is(err, ErrInsecure) {
		t.Fatalf("err = %v, want a *PermissionError", err)
	}
	if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, problem) {
		t.Fatalf("message %q should name %s and say %q", msg, path, problem)
	}
}

func TestEnsureDirCreatesPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if _, err := EnsureDir(dir); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Fatalf("mode %04o, want 0700", m)
	}
}

func TestEnsureDirFixesLooseMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	os.Mkdir(dir, 0o755)
	os.Chmod(dir, 0o775)
	fixed, err := EnsureDir(dir)
	if err != nil || !fixed || mode(t, dir) != 0o700 {
		t.Fatalf("EnsureDir = %v, %v; mode %04o; want fixed to 0700", fixed, err, mode(t, dir))
	}
}

func TestEnsureDirRefuses(t *testing.T) {
	t.Run("symlink", func(t *testing.T) {
		base := t.TempDir()
		real := filepath.Join(base, "real")
		os.Mkdir(real, 0o700)
		link := filepath.Join(base, "link")
		os.Symlink(real, link)
		_, err := EnsureDir(link)
		wantRefusal(t, err, link, "is a symlink")
	})
	t.Run("other owner", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "d")
		os.Mkdir(dir, 0o700)
		testkit.ChownToOther(t, dir)
		_, err := EnsureDir(dir)
		wantRefusal(t, err, dir, "is owned by uid 65534")
		if mode(t, dir) != 0o700 {
			t.Fatal("mode changed on a refused directory")
		}
	})
	t.Run("not a directory", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "f")
		os.WriteFile(p, nil, 0o600)
		_, err := EnsureDir(p)
		if err == nil {
			t.Fatal("EnsureDir on a file should fail")
		}
	})
}

func TestCheckFile(t *testing.T) {
	t.Run("fixes loose mode", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "f")
		os.WriteFile(p, []byte("x"), 0o644)
		fixed, err := CheckFile(p)
		if err != nil || !fixed || mode(t, p) != 0o600 {
			t.Fatalf("CheckFile = %v, %v; mode %04o", fixed, err, mode(t, p))
		}
	})
	t.Run("missing", func(t *testing.T) {
		_, err := CheckFile(filepath.Join(t.TempDir(), "nope"))
		testkit.WantIs(t, err, fs.ErrNotExist, "CheckFile")
	})
	t.Run("symlink", func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "t")
		os.WriteFile(target, nil, 0o600)
		link := filepath.Join(dir, "l")
		os.Symlink(target, link)
		_, err := CheckFile(link)
		wantRefusal(t, err, link, "is a symlink")
		_, err = ReadFile(link, 10)
		wantRefusal(t, err, link, "is a symlink")
	})
	t.Run("other owner", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "f")
		os.WriteFile(p, nil, 0o600)
		testkit.ChownToOther(t, p)
		_, err := CheckFile(p)
		wantRefusal(t, err, p, "is owned by uid 65534")
	})
	t.Run("fifo", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "fifo")
		if err := mkfifo(p); err != nil {
			t.Skip(err)
		}
		_, err := ReadFile(p, 10)
		wantRefusal(t, err, p, "is not a regular file")
	})
}

func TestReadSecretFileRefusesGroupReadable(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key.txt")
	os.WriteFile(p, []byte("AGE-SECRET-KEY-1FAKE"), 0o640)
	_, err := ReadSecretFile(p, 100)
	wantRefusal(t, err, p, "is accessible by group or other users (mode 0640)")
	if !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), "FAKE") {
		t.Fatalf("message %q should say how to fix it and not quote the file", err)
	}
	if mode(t, p) != 0o640 {
		t.Fatal("ReadSecretFile must not silently fix a secret file's mode")
	}
	os.Chmod(p, 0o600)
	if b, err := ReadSecretFile(p, 100); err != nil || string(b) != "AGE-SECRET-KEY-1FAKE" {
		t.Fatalf("ReadSecretFile after chmod = %q, %v", b, err)
	}
}

func TestReadFileLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, make([]byte, 11), 0o600)
	if _, err := ReadFile(p, 10); err == nil {
		t.Fatal("want an error for a file over the limit")
	}
}

// CheckOwnDir refuses what would let another user replace a file created
// in the directory, and changes nothing.
func TestCheckOwnDir(t *testing.T) {
	t.Run("own, not writable by others", func(t *testing.T) {
		for _, m := range []fs.FileMode{0o700, 0o755, 0o750} {
			dir := filepath.Join(t.TempDir(), "d")
			os.Mkdir(dir, m)
			os.Chmod(dir, m)
			testkit.NoErr(t, CheckOwnDir(dir), "mode", m.String())
		}
	})
	t.Run("symlink to an own directory is followed", func(t *testing.T) {
		base := t.TempDir()
		real := filepath.Join(base, "real")
		os.Mkdir(real, 0o700)
		link := filepath.Join(base, "link")
		os.Symlink(real, link)
		testkit.NoErr(t, CheckOwnDir(link))
	})
	for _, m := range []fs.FileMode{0o770, 0o777, 0o702, fs.ModeSticky | 0o777} { // the last like /tmp
		t.Run("writable by others "+m.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "d")
			os.Mkdir(dir, 0o700)
			os.Chmod(dir, m)
			wantRefusal(t, CheckOwnDir(dir), dir, "is writable by group or other users")
			if mode(t, dir) != m.Perm() {
				t.Fatal("CheckOwnDir changed the mode")
			}
		})
	}
	t.Run("other owner", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "d")
		os.Mkdir(dir, 0o700)
		testkit.ChownToOther(t, dir)
		err := CheckOwnDir(dir)
		wantRefusal(t, err, dir, "is owned by uid 65534")
		if strings.Contains(err.Error(), EnvDataDir) {
			t.Fatalf("the fix names the data directory: %v", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		testkit.WantIs(t, CheckOwnDir(filepath.Join(t.TempDir(), "nope")), fs.ErrNotExist, "CheckOwnDir")
	})
	t.Run("a file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "f")
		os.WriteFile(p, nil, 0o600)
		wantRefusal(t, CheckOwnDir(p), p, "is not a directory")
	})
}
