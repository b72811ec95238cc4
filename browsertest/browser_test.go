package browsertest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// testTimeout bounds each browser test as a whole.
const testTimeout = 60 * time.Second

// chromiumPath finds a Chromium or Chrome binary. Without one the test is
// skipped, except under CI=true, where a missing browser is a failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testkit.SkipOrFail(t, "no Chromium found on PATH (chromium, chromium-browser, google-chrome); install the Debian package chromium")
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile and returns a
// chromedp context for its first tab, bounded by ctx. When the test ends it
// closes the browser and checks that no process of it is left.
func newBrowser(ctx context.Context, t *testing.T) context.Context {
	t.Helper()
	exe := chromiumPath(t)
	// Everything the browser writes goes under root: the profile, and through
	// XDG_CONFIG_HOME and XDG_CACHE_HOME the crashpad database, which would
	// otherwise land in ~/.config/chromium. Every browser process, crashpad
	// handlers included, names a path under root on its command line, which
	// is how the leftover check finds them.
	root := t.TempDir()
	profile := filepath.Join(root, "profile")
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe),
		chromedp.Env("XDG_CONFIG_HOME="+filepath.Join(root, "config"), "XDG_CACHE_HOME="+filepath.Join(root, "cache")),
		chromedp.Headless,
		chromedp.NoSandbox, // tests may run as root, where the sandbox cannot start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(900, 720),
		// Keep the browser off the network except for the pages under test;
		// without these it stalls on a machine with no internet access.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
	)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		// Close gracefully, then make sure the process tree is gone. root (a
		// t.TempDir registered earlier) is removed after this cleanup, so no
		// browser process writes into it afterwards.
		cctx, ccancel := context.WithTimeout(bctx, 10*time.Second)
		_ = chromedp.Cancel(cctx)
		ccancel()
		bcancel()
		acancel()
		// Chromium passes --user-data-dir to every child, and its crashpad
		// handlers get --database under XDG_CONFIG_HOME.
		under := []byte(root + string(filepath.Separator))
		if left := waitGone(func(cmdline []byte) bool { return bytes.Contains(cmdline, under) }, 5*time.Second); len(left) > 0 {
			t.Errorf("chromium processes left after the test: %v (killed)", left)
		}
	})
	// Start the browser now, so a start-up failure is reported as such.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium (%s): %v", exe, err)
	}
	return bctx
}

// waitGone waits until no process's command line satisfies match, and
// returns, after killing them, the pids still there at the deadline.
func waitGone(match func(cmdline []byte) bool, limit time.Duration) []int {
	var pids []int
	if testkit.Eventually(limit, func() bool { pids = processesMatching(match); return len(pids) == 0 }) {
		return nil
	}
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	return pids
}

// processesMatching lists the live processes, other than this one, whose
// NUL-separated command line satisfies match.
func processesMatching(match func(cmdline []byte) bool) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil // no procfs: nothing to check
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if match(cmdline) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// screenshotDir is $KEYRELAY_SCREENSHOT_DIR, or a temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("KEYRELAY_SCREENSHOT_DIR"); d != "" {
		testkit.NoErr(t, os.MkdirAll(d, 0o755))
		return d
	}
	return t.TempDir()
}

// screenshot saves a full-page PNG of the current page as dir/name.
func screenshot(ctx context.Context, t *testing.T, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot %s is not a PNG", name)
	}
	p := filepath.Join(dir, name)
	testkit.NoErr(t, os.WriteFile(p, png, 0o644))
	t.Logf("screenshot: %s (%d bytes)", p, len(png))
}
