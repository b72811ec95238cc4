package platform

import (
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
