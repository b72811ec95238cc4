//go:build unix

package main

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// The terminal tests run `make demo` as a person does, in a real terminal
// (tmux) on a machine with no browser: no DISPLAY, WAYLAND_DISPLAY or
// BROWSER. make builds the binaries into a temporary DEMO_BIN, so the
// repository's bin/ is left alone; the vault key goes in the test's own
// Secret Service, never the developer's keychain.

var (
	passwordRe = regexp.MustCompile(`with password: (\S+)`)
	backendRe  = regexp.MustCompile(`authorization server on (http://127\.0\.0\.1:\d+)`)
	// The page and the code, each alone on its line, as the demo prints
	// them; or the demo's end, which must not come first.
	signInRe = regexp.MustCompile(`(?m)^ +(http://127\.0\.0\.1:\d+/device)$\s+enter the code:$\s+^ +([A-Z]{4}-[A-Z]{4})$|^demo: |^make: \*\*\*`)
)

// waitSignIn waits until the demo shows the page and the code, and
// returns them; it fails at once if the demo ends instead.
func waitSignIn(t *testing.T, demo *testkit.Pane) (page, code string) {
	t.Helper()
	m := demo.WaitFor(3*time.Minute, signInRe)
	if m[1] == "" {
		t.Fatalf("the demo ended instead of waiting for the sign-in:\n%s", demo.Capture())
	}
	return m[1], m[2]
}

// terminalDemo starts a tmux server in the repository with the demo's
// environment; 127.0.0.1:5002, the backend's default address, is held busy
// meanwhile (if nobody else holds it), so the demo always takes its
// other port and prints the lines for a backend on a free one.
func terminalDemo(t *testing.T) (tm *testkit.Tmux, bin, dir string) {
	ss := testkit.StartSecretService(t)
	root, err := filepath.Abs("..")
	testkit.NoErr(t, err)
	tmp := t.TempDir()
	bin, dir = filepath.Join(tmp, "bin"), filepath.Join(tmp, "demo")
	if ln, err := net.Listen("tcp", backendAddr); err == nil {
		t.Cleanup(func() { ln.Close() })
	}
	env := []string{ss.Env(), "DEMO_BIN=" + bin, "DEMO_DIR=" + dir, "PS1=$ "}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "DISPLAY", name == "WAYLAND_DISPLAY", name == "BROWSER", name == "DBUS_SESSION_BUS_ADDRESS",
			name == "XDG_RUNTIME_DIR", name == "SSH_CONNECTION", name == "TMUX", name == "TMUX_PANE", name == "ENV", name == "PS1",
			name == "MAKEFLAGS", name == "MFLAGS", name == "MAKELEVEL", // an outer make's (make test)
			strings.HasPrefix(name, "RELAY_"), strings.HasPrefix(name, "DEMO_"), strings.HasPrefix(name, "FAKEBROWSER_"):
		default:
			env = append(env, kv)
		}
	}
	return testkit.StartTmux(t, root, env), bin, dir
}

// TestDemoTerminalNoBrowser runs `make demo` in a terminal with no
// browser and signs in from a second terminal with curl, as a person on a
// machine without a desktop would (demo/testdata/device-signin.sh: the
// device page, the code, the sign-in form with user demo and the password
// read from the demo's screen, the consent). The demo then ends: whoami
// answered, status, logout, and the Claude Code lines for a backend that
// will run. The password is typed into curl's prompt as a paste (it is in
// no argument list); the URL and the code are arguments, as typed.
func TestDemoTerminalNoBrowser(t *testing.T) {
	tm, _, _ := terminalDemo(t)
	demo := tm.Main()
	demo.Type(`make demo; echo "demo exit: $?"`)
	page, code := waitSignIn(t, demo)
	password := demo.WaitFor(time.Second, passwordRe)[1]
	demo.WaitForText(time.Second, "DEMO_HEADLESS=1 make demo")

	curl := tm.Window("curl")
	script, err := filepath.Abs(filepath.Join("testdata", "device-signin.sh"))
	testkit.NoErr(t, err)
	curl.Type("sh " + script + " " + page + " " + code)
	curl.WaitForText(10*time.Second, "password for demo:")
	curl.Paste(password)
	curl.Keys("Enter")
	curl.WaitForText(30*time.Second, "device sign-in: approved")

	demo.WaitFor(time.Minute, regexp.MustCompile(`demo exit: \d+`))
	out := demo.Capture()
	backend := backendRe.FindStringSubmatch(out)
	if backend == nil {
		t.Fatalf("no backend address shown:\n%s", out)
	}
	addr := regexp.MustCompile(`--auth-server --addr (127\.0\.0\.1:\d+)`).FindStringSubmatch(out)
	if addr == nil {
		t.Fatalf("no backend command for a free address (5002 was busy):\n%s", out)
	}
	url := "http://" + addr[1]
	testkit.Contains(t, "the demo's terminal lacks", out,
		"signed in: the relay finished the sign-in in the background",
		"whoami answered through the relay:", `"subject": "demo"`,
		"answered without a new sign-in",
		"status:      logged in as demo",
		"logged out: revoked at the server and wiped here",
		"status:      logged out",
		"claude mcp add keyrelay --env RELAY_BACKEND_URL="+url+" --env RELAY_AUTH_SERVER_URL="+url+" -- ",
		"demo exit: 0")
	if url == backend[1] || strings.Contains(out, "RELAY_BACKEND_URL="+backend[1]) {
		t.Errorf("the Claude Code lines point at the demo's stopped backend %s:\n%s", backend[1], out)
	}
}

// TestDemoTerminalCtrlC presses Ctrl-C while the demo waits for the
// sign-in: it says so and exits, and its backend and relay are gone.
func TestDemoTerminalCtrlC(t *testing.T) {
	tm, bin, _ := terminalDemo(t)
	demo := tm.Main()
	demo.Type("make demo")
	waitSignIn(t, demo)
	backend := demo.WaitFor(time.Second, backendRe)[1]
	demo.Keys("C-c")
	demo.WaitForText(30*time.Second, "demo: stopped; the backend and the relay have exited")
	demo.Type(`echo "after: $?"`)
	demo.WaitFor(30*time.Second, regexp.MustCompile(`after: [1-9]`))
	if c, err := net.Dial("tcp", strings.TrimPrefix(backend, "http://")); err == nil {
		c.Close()
		t.Errorf("the demo's backend still listens on %s", backend)
	}
	if left := running(t, bin); len(left) > 0 {
		t.Errorf("still running after Ctrl-C: %v", left)
	}
}

// running lists the processes whose command line runs a program in dir
// (Linux /proc; nothing elsewhere).
func running(t *testing.T, dir string) []string {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var left []string
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && strings.HasPrefix(string(b), dir+string(filepath.Separator)) {
			left = append(left, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return left
}
