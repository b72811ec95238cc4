package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCleanKeepsOtherFiles: -out may name a directory with other files;
// only an earlier run's release files go, and SHA256SUMS covers only them.
func TestCleanKeepsOtherFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"notes.txt", "keyrelay_v1_linux_amd64.tar.gz", "keyrelay_v1_linux_amd64.relay.cdx.json", "SHA256SUMS", "SHA256SUMS.sig"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := clean(dir); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "notes.txt" {
		t.Fatalf("after clean: %v, want only notes.txt", ents)
	}
	os.WriteFile(filepath.Join(dir, "keyrelay_v1_windows_arm64.zip"), []byte("zip"), 0o644)
	sums, err := Checksums(dir)
	if err != nil {
		t.Fatal(err)
	}
	// sha256("zip"), as sha256sum prints it.
	if want := "4a70fe9aa6436e02c2dea340fbd1e352e4ef2d8ce6ca52ad25d4b95471fc8bf2  keyrelay_v1_windows_arm64.zip\n"; string(sums) != want {
		t.Fatalf("SHA256SUMS = %q, want %q", sums, want)
	}
}

func TestMtimeFromEnv(t *testing.T) {
	if got, err := MtimeFromEnv(""); err != nil || !got.Equal(DefaultMtime) {
		t.Fatalf(`MtimeFromEnv("") = %v, %v`, got, err)
	}
	if got, err := MtimeFromEnv("1796601600"); err != nil || !got.Equal(time.Unix(1796601600, 0)) {
		t.Fatalf("MtimeFromEnv(1796601600) = %v, %v", got, err)
	}
	for _, bad := range []string{"abc", "-1", "0", "1e9"} {
		if _, err := MtimeFromEnv(bad); err == nil {
			t.Errorf("MtimeFromEnv(%q): no error", bad)
		}
	}
}
