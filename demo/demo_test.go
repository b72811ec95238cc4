package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestDemoRunsHeadless runs `make demo`'s driver with the scripted
// browser: backend, relay, tools/list, whoami twice, status, logout.
func TestDemoRunsHeadless(t *testing.T) {
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "../backend", "../relay", "../internal/fakebrowser/cmd/fakebrowser")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	t.Setenv("DEMO_BIN", bin)
	t.Setenv("DEMO_DIR", filepath.Join(t.TempDir(), "demo"))
	t.Setenv("DEMO_HEADLESS", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx); err != nil {
		t.Fatal(err)
	}
}
