package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// module is the root module's path; its commands are built from its own
// directory, with its own go.mod, also when a nested module's tests ask.
const module = "github.com/keyrelay/keyrelay"

// bins are the binaries built by this test process, by package, in one
// temporary directory that Main removes.
var bins struct {
	mu    sync.Mutex
	dir   string
	built map[string]*build
}

type build struct {
	once sync.Once
	path string
	err  error
}

// Relay returns the relay binary, built once per test process.
func Relay(t testing.TB) string { return Build(t, module+"/relay") }

// FakeBrowser returns the scripted browser (internal/fakebrowser), built
// once per test process.
func FakeBrowser(t testing.TB) string {
	return Build(t, module+"/internal/fakebrowser/cmd/fakebrowser")
}

// Backend returns the example backend binary, built once per test process.
func Backend(t testing.TB) string { return Build(t, module+"/backend") }

// Build builds the main package pkg once per test process and returns its
// path; all binaries go in one directory, named after their package's last
// element. A package of the root module is built in the root module's
// directory; any other (a nested module's command) in the test's own.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	b := pending(pkg)
	b.once.Do(func() { b.path, b.err = goBuild(pkg) })
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func pending(pkg string) *build {
	bins.mu.Lock()
	defer bins.mu.Unlock()
	if bins.built == nil {
		bins.built = map[string]*build{}
	}
	if bins.built[pkg] == nil {
		bins.built[pkg] = &build{}
	}
	return bins.built[pkg]
}

func goBuild(pkg string) (string, error) {
	dir, err := binDir()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), pkg)
	if strings.HasPrefix(pkg, module+"/") && !nested(pkg) {
		if cmd.Dir, err = rootDir(); err != nil {
			return "", err
		}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	return filepath.Join(dir, path.Base(pkg)), nil
}

// nested reports whether pkg belongs to one of the nested test modules.
func nested(pkg string) bool {
	return strings.HasPrefix(pkg, module+"/browsertest/") || strings.HasPrefix(pkg, module+"/interop/")
}

func binDir() (string, error) {
	bins.mu.Lock()
	defer bins.mu.Unlock()
	if bins.dir == "" {
		dir, err := os.MkdirTemp("", "keyrelay-test-bin")
		if err != nil {
			return "", err
		}
		bins.dir = dir
	}
	return bins.dir, nil
}

// rootDir is the root module's directory, as the go tool resolves it from
// here (a nested module names it in a replace directive).
func rootDir() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %v", module, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Main runs the tests and removes the binaries they built; call it from
// TestMain.
func Main(m *testing.M) {
	code := m.Run()
	bins.mu.Lock()
	if bins.dir != "" {
		_ = os.RemoveAll(bins.dir)
	}
	bins.mu.Unlock()
	os.Exit(code)
}
