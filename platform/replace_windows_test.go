package platform

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestCommitWaitsForAReader: on Windows a rename over a file that another
// handle holds open (os.Open shares no delete access) is refused with
// "Access is denied"; a reader that lets go within transientWait must not
// make a vault write fail. Without replaceFile's retry, Commit fails at
// once.
func TestCommitWaitsForAReader(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "f")
	testkit.NoErr(t, WriteFileAtomic(dst, []byte("old")))
	r, err := os.Open(dst)
	testkit.NoErr(t, err)
	const hold = 200 * time.Millisecond
	released := make(chan struct{})
	go func() {
		time.Sleep(hold) // the reader's moment: the condition under test, not a wait
		r.Close()
		close(released)
	}()
	start := time.Now()
	err = WriteFileAtomic(dst, []byte("new"))
	<-released
	testkit.NoErr(t, err, "WriteFileAtomic while a reader held the file")
	if b, _ := os.ReadFile(dst); string(b) != "new" {
		t.Fatalf("content %q, want the new one", b)
	}
	t.Logf("the write waited %v for the reader", time.Since(start).Round(time.Millisecond))
}

// TestCommitGivesUpOnAHolder: a handle that never lets go fails the write
// after transientWait, with the old content in place and no temporary file.
func TestCommitGivesUpOnAHolder(t *testing.T) {
	defer func(d time.Duration) { transientWait = d }(transientWait)
	transientWait = 100 * time.Millisecond
	dir := t.TempDir()
	dst := filepath.Join(dir, "f")
	testkit.NoErr(t, WriteFileAtomic(dst, []byte("old")))
	r, err := os.Open(dst)
	testkit.NoErr(t, err)
	defer r.Close()
	if err := WriteFileAtomic(dst, []byte("new")); err == nil {
		t.Fatal("WriteFileAtomic over a held file succeeded; is the handle not held?")
	}
	r.Close()
	if b, _ := os.ReadFile(dst); string(b) != "old" {
		t.Fatalf("content %q, want the old one", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("the directory holds %d entries, want the file only", len(ents))
	}
}

// TestReadWaitsForAnExclusiveHolder: while a rename over a file is under
// way, Windows refuses to open it ("being used by another process"); a
// handle that shares nothing stands in for it here. ReadFile must wait
// for it to let go, not fail. Without openFile's retry, it fails at once.
func TestReadWaitsForAnExclusiveHolder(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	testkit.NoErr(t, WriteFileAtomic(p, []byte("content")))
	name, err := windows.UTF16PtrFromString(p)
	testkit.NoErr(t, err)
	h, err := windows.CreateFile(name, windows.GENERIC_READ, 0 /* share nothing */, nil, windows.OPEN_EXISTING, 0, 0)
	testkit.NoErr(t, err)
	released := make(chan struct{})
	go func() {
		time.Sleep(200 * time.Millisecond) // the holder's moment: the condition under test, not a wait
		windows.CloseHandle(h)
		close(released)
	}()
	b, err := ReadFile(p, 100)
	<-released
	testkit.NoErr(t, err, "ReadFile while another handle held the file exclusively")
	if string(b) != "content" {
		t.Fatalf("read %q", b)
	}
}
