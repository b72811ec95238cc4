//go:build linux

package winelane

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// root is the repository's root: the tests run in internal/winelane.
var root = func() string {
	d, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return d
}()

// wine is the lane's one Wine prefix, made by scripts/wine/setup.sh.
type wine struct {
	dir        string // setup.sh's DIR: the prefix, the shim, the overlay
	prefix     string // WINEPREFIX
	overlay    string // the go build -overlay file
	exec       string // scripts/wine/exec.sh, the go test -exec wrapper
	loader     string // the Wine loader exec.sh runs
	server     string // wineserver
	setupTook  time.Duration
	serverDown sync.Once
}

var (
	wineOnce sync.Once
	theWine  *wine
	wineErr  error
)

// TestMain stops the prefix's wineserver and removes the prefix.
func TestMain(m *testing.M) {
	code := m.Run()
	if theWine != nil {
		theWine.close()
	}
	os.Exit(code)
}

// needWine returns the lane's Wine prefix, made on first use. Without Wine
// or the mingw-w64 compiler the test skips, and fails under CI=true.
func needWine(t *testing.T) *wine {
	t.Helper()
	ex := filepath.Join(root, "scripts", "wine", "exec.sh")
	loader, err := exec.Command(ex, "--which").Output()
	if err != nil {
		testkit.SkipOrFail(t, "no Wine: the Windows lane needs it (apt-get install wine64 gcc-mingw-w64-x86-64-win32)")
	}
	if _, err := exec.LookPath("x86_64-w64-mingw32-gcc"); err != nil {
		testkit.SkipOrFail(t, "no mingw-w64: the Windows lane builds its ProcessPrng shim with it (apt-get install gcc-mingw-w64-x86-64-win32)")
	}
	wineOnce.Do(func() { theWine, wineErr = newWine(ex, strings.TrimSpace(string(loader))) })
	if wineErr != nil {
		t.Fatal(wineErr)
	}
	return theWine
}

func newWine(ex, loader string) (*wine, error) {
	dir, err := os.MkdirTemp("", "keyrelay-wine")
	if err != nil {
		return nil, err
	}
	w := &wine{dir: dir, prefix: filepath.Join(dir, "prefix"), overlay: filepath.Join(dir, "overlay.json"),
		exec: ex, loader: loader, server: wineserverFor(loader)}
	start := time.Now()
	cmd := exec.Command(filepath.Join(root, "scripts", "wine", "setup.sh"), dir)
	cmd.WaitDelay = 10 * time.Second // should a Wine process it leaves hold its output
	if out, err := cmd.CombinedOutput(); err != nil {
		w.close()
		return nil, fmt.Errorf("scripts/wine/setup.sh: %v\n%s", err, out)
	}
	w.setupTook = time.Since(start)
	return w, nil
}

// wineserverFor finds the wineserver beside the loader, else on PATH.
func wineserverFor(loader string) string {
	if p := filepath.Join(filepath.Dir(loader), "wineserver"); isExecutable(p) {
		return p
	}
	if p, err := exec.LookPath("wineserver"); err == nil {
		return p
	}
	return "/usr/lib/wine/wineserver"
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// env is the Wine part of an environment: the prefix, quiet.
func (w *wine) env() []string {
	return append(os.Environ(), "WINEPREFIX="+w.prefix, "WINEDEBUG=-all")
}

// close stops the prefix's wineserver (setup.sh started it, persistent),
// and with it any Windows process left, and removes the prefix.
func (w *wine) close() {
	w.serverDown.Do(func() {
		cmd := exec.Command(w.server, "-k")
		cmd.Env = w.env()
		_ = cmd.Run() // no server running is fine
	})
	_ = os.RemoveAll(w.dir)
}

// goWindows returns `go args...` building for windows/amd64 with the
// lane's overlay, run in the repository's root under Wine's environment.
func (w *wine) goWindows(args ...string) *exec.Cmd {
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	// KEYRELAY_OS_KEYCHAIN_TEST=1: the vault's keychain tests write to
	// this prefix's Credential Manager, which is the lane's own.
	cmd.Env = append(w.env(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0",
		"GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -overlay="+w.overlay), "KEYRELAY_OS_KEYCHAIN_TEST=1")
	return cmd
}
