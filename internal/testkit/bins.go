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

// module is the root module's path; its commands are built in its own
// directory, with its own go.mod, also when a nested module's tests ask.
const module = "github.com/keyrelay/keyrelay"

// binDir is the one temporary directory this process builds into; Main
// removes it.
var binDir = sync.OnceValues(func() (string, error) { return os.MkdirTemp("", "keyrelay-test-bin") })

// builds holds a *build per package.
var builds sync.Map

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
// directory; a nested module's (browsertest, interop) in the test's own.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(pkg, &build{})
	b := v.(*build)
	b.once.Do(func() { b.path, b.err = goBuild(pkg) })
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func goBuild(pkg string) (string, error) {
	dir, err := binDir()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), pkg)
	nested := strings.HasPrefix(pkg, module+"/browsertest/") || strings.HasPrefix(pkg, module+"/interop/")
	if strings.HasPrefix(pkg, module+"/") && !nested {
		// The root module's directory, as the go tool resolves it from
		// here (a nested module names it in a replace directive).
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
		if err != nil {
			return "", fmt.Errorf("go list -m %s: %v", module, err)
		}
		cmd.Dir = strings.TrimSpace(string(out))
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	return filepath.Join(dir, path.Base(pkg)), nil
}

// Main runs the tests and removes the binaries they built; call it from
// TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if dir, err := binDir(); err == nil {
		_ = os.RemoveAll(dir)
	}
	os.Exit(code)
}
