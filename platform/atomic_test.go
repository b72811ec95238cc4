package platform

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestWriteFileAtomicReplacesAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("old"), 0o644)
	testkit.NoErr(t, WriteFileAtomic(p, []byte("new")))
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Fatalf("content %q", b)
	}
	if fi, _ := os.Stat(p); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("directory holds %d entries, want only the file", len(ents))
	}
}

// A writer that stops after syncing the temp file but before the rename (a
// crash at the worst moment) leaves the old content in place.
func TestAtomicFileUncommittedLeavesOldContent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("old"), 0o600)
	a, err := CreateAtomic(p)
	testkit.NoErr(t, err)
	a.Write([]byte("new"))
	testkit.NoErr(t, a.Sync())
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatalf("content before commit %q, want old", b)
	}
	if !IsAtomicTemp(filepath.Base(a.TempName())) {
		t.Fatalf("IsAtomicTemp(%q) = false", a.TempName())
	}
	testkit.NoErr(t, a.Abort())
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatal("Abort left the temp file")
	}
}

func TestIsAtomicTemp(t *testing.T) {
	for name, want := range map[string]bool{
		".tokens.age.tmp-123": true, "tokens.age": false, "vault.lock": false, "tmp-1": false,
	} {
		if IsAtomicTemp(name) != want {
			t.Errorf("IsAtomicTemp(%q) != %v", name, want)
		}
	}
}

// CommitNew creates the target from a synced temporary file and never
// replaces one: before the commit the target does not exist, after it the
// whole content is there (0600) and the temporary file is gone.
func TestCommitNewCreatesButNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "key")
	a, err := CreateAtomic(p)
	testkit.NoErr(t, err)
	a.Write([]byte("new content"))
	testkit.NoErr(t, a.Sync())
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Fatalf("the target exists before the commit: %v", err)
	}
	testkit.NoErr(t, a.CommitNew())
	if b, _ := os.ReadFile(p); string(b) != "new content" {
		t.Fatalf("content %q", b)
	}
	if fi, _ := os.Stat(p); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("directory holds %d entries, want only the file", len(ents))
	}

	b, err := CreateAtomic(p)
	testkit.NoErr(t, err)
	b.Write([]byte("other"))
	testkit.WantIs(t, b.CommitNew(), fs.ErrExist, "CommitNew over an existing file")
	if got, _ := os.ReadFile(p); string(got) != "new content" {
		t.Fatalf("an existing file was replaced: %q", got)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatal("a refused CommitNew left its temporary file")
	}
}

// copyExclusive, the fallback without hard links, never replaces a file
// either.
func TestCopyExclusive(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	os.WriteFile(src, []byte("content"), 0o600)
	testkit.NoErr(t, copyExclusive(src, dst))
	if b, _ := os.ReadFile(dst); string(b) != "content" {
		t.Fatalf("content %q", b)
	}
	os.WriteFile(src, []byte("other"), 0o600)
	testkit.WantIs(t, copyExclusive(src, dst), fs.ErrExist, "copyExclusive over an existing file")
	if b, _ := os.ReadFile(dst); string(b) != "content" {
		t.Fatalf("replaced: %q", b)
	}
}
