// Package faultfs gives tests real file-system faults: a small tmpfs that
// can be filled (ENOSPC) or remounted read-only. It needs root and Linux
// mount(8); without them a test skips, and fails under CI=true, where the
// faults must be tested (testkit.SkipOrFail). It is test support only, like
// the rest of testkit.
package faultfs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// FillerName is the file Fill writes, so callers can leave it out when they
// compare a directory's contents.
const FillerName = "filler"

// MountTmpfs mounts a 256 KiB tmpfs (mode 0700) on dir, creating dir, and
// unmounts it when the test ends.
func MountTmpfs(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "linux" {
		// Not a missing tool: these faults are the Linux lane's.
		t.Skip("a tmpfs fault needs Linux mount(8); not on " + runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		testkit.SkipOrFail(t, "mounting a tmpfs needs root")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		testkit.SkipOrFail(t, fmt.Sprintf("mount tmpfs: %v %s", err, out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
}

// Remount remounts the tmpfs on dir with mode "ro" or "rw".
func Remount(t testing.TB, dir, mode string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+mode, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s %s: %v %s", dir, mode, err, out)
	}
}

// Fill writes FillerName into dir until its file system is full, and
// returns a func that frees the space.
func Fill(t testing.TB, dir string) func() {
	t.Helper()
	p := filepath.Join(dir, FillerName)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill: %v", err)
			}
			break
		}
	}
	return func() {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
}
