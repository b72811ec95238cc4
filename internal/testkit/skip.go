package testkit

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SkipOrFail skips the test with msg, or fails it under CI=true: a test
// that matters must not pass in CI by skipping.
func SkipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: a skip is a failure)")
	}
	t.Skip(msg)
}

// Installed returns the directory $env names (where .ci/run installed a
// tool), else runs ../scripts/script into a new temporary directory and
// returns that (for a test one directory below the root). It skips, or
// fails under CI=true, when a command of needs is missing or the script
// fails.
func Installed(t testing.TB, env, script string, needs ...string) string {
	t.Helper()
	if dir := os.Getenv(env); dir != "" {
		return dir
	}
	for _, c := range needs {
		if _, err := exec.LookPath(c); err != nil {
			SkipOrFail(t, fmt.Sprintf("%s not found: scripts/%s needs it (or set %s to a directory that script made)", c, script, env))
		}
	}
	dir := t.TempDir()
	start := time.Now()
	cmd := exec.Command(filepath.Join("..", "scripts", script), dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		SkipOrFail(t, fmt.Sprintf("scripts/%s: %v\n%s", script, err, Tail(stderr.String())))
	}
	t.Logf("scripts/%s: installed in %v: %s", script, time.Since(start).Round(time.Second), strings.TrimSpace(stderr.String()))
	return dir
}
