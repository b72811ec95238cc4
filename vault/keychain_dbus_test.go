//go:build linux || freebsd || netbsd || openbsd || dragonfly

package vault

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestNoDBusIsUnavailableFast: with no session bus, the real keychain
// reports ErrUnavailable within 100 ms, without starting a dbus-daemon (or
// running dbus-launch, which a fake in PATH would record).
func TestNoDBusIsUnavailableFast(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("D-Bus check is Linux-specific")
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	os.Unsetenv("DBUS_SESSION_BUS_ADDRESS")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	oldRun := runUserDir
	runUserDir = t.TempDir()
	t.Cleanup(func() { runUserDir = oldRun })
	// A fake dbus-launch records any autolaunch attempt (and starts nothing).
	bin := t.TempDir()
	marker := filepath.Join(bin, "launched")
	os.WriteFile(filepath.Join(bin, "dbus-launch"), []byte("#!/bin/sh\ntouch '"+marker+"'\nexit 1\n"), 0o700)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	before := countProcs(t, "dbus-daemon")
	k := &OSKeychain{Service: "keyrelay-test-nodbus"}
	keychainCallsFail(t, k, 100*time.Millisecond, ErrUnavailable)
	for _, addr := range []string{"autolaunch:", "unix:path=" + filepath.Join(t.TempDir(), "nobus")} {
		t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
		_, err := k.Get(context.Background(), "a")
		wantErr(t, err, ErrUnavailable)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("dbus-launch was run")
	}
	if after := countProcs(t, "dbus-daemon"); after > before {
		t.Fatalf("dbus-daemon processes went from %d to %d", before, after)
	}
}

func countProcs(t *testing.T, name string) int {
	return len(testkit.Procs(func(dir string) bool {
		b, err := os.ReadFile(filepath.Join(dir, "comm"))
		return err == nil && strings.TrimSpace(string(b)) == name
	}))
}
