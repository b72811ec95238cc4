package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// keychainCallsFail checks that Get, Set and DeleteAll of k each fail with
// want within limit.
func keychainCallsFail(t *testing.T, k *OSKeychain, limit time.Duration, want error) {
	t.Helper()
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"get":       func() error { _, err := k.Get(ctx, "a"); return err },
		"set":       func() error { return k.Set(ctx, "a", secret.New("fake")) },
		"deleteall": func() error { return k.DeleteAll(ctx) },
	} {
		start := time.Now()
		err := call()
		if d := time.Since(start); d > limit {
			t.Errorf("%s took %v, want under %v", name, d, limit)
		}
		wantErr(t, err, want)
	}
}

// TestOSKeychainTimeoutIsLocked: a backend that never answers (a locked
// keyring waiting for an unlock dialog nobody will see) is ErrLocked after
// the timeout.
func TestOSKeychainTimeoutIsLocked(t *testing.T) {
	be := &silentKeyring{release: make(chan struct{})}
	be.silent.Store(true)
	defer close(be.release)
	keychainCallsFail(t, &OSKeychain{Timeout: 150 * time.Millisecond, backend: be, busCheck: func() error { return nil }}, time.Second, ErrLocked)
}

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
	t.Helper()
	ents, err := os.ReadDir("/proc")
	testkit.NoErr(t, err)
	n := 0
	for _, e := range ents {
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm")); err == nil && strings.TrimSpace(string(b)) == name {
			n++
		}
	}
	return n
}

func TestMapKeyringError(t *testing.T) {
	tests := []struct {
		in   error
		want error
	}{
		{keyring.ErrNotFound, ErrNotFound},
		{keyring.ErrUnsupportedPlatform, ErrUnavailable},
		{fmt.Errorf("failed to unlock correct collection '/x'"), ErrLocked},
	}
	for _, tt := range tests {
		testkit.ExpectIs(t, mapKeyringError("get", tt.in), tt.want, "mapKeyringError(%v)", tt.in)
	}
	if err := mapKeyringError("get", errors.New("other")); errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown error must not look unavailable (that would allow a fallback): %v", err)
	}
}
