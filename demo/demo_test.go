package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestMain removes the binaries the test built.
func TestMain(m *testing.M) { testkit.Main(m) }

// TestDemoRunsHeadless runs `make demo`'s driver with the scripted
// browser: backend, relay, tools/list, whoami twice, status, logout.
func TestDemoRunsHeadless(t *testing.T) {
	testkit.Backend(t)
	testkit.Relay(t)
	t.Setenv("DEMO_BIN", filepath.Dir(testkit.FakeBrowser(t))) // the kit builds into one directory
	t.Setenv("DEMO_DIR", filepath.Join(t.TempDir(), "demo"))
	t.Setenv("DEMO_HEADLESS", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	testkit.NoErr(t, run(ctx))
}
