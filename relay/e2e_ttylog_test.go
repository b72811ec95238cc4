package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/fakebrowser"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// Issue 15, point 5: an interactive `relay login` on a terminal showed
// structured log lines (time=… level=…) between its own lines, and the
// sign-in URL twice (the prompt, and a warning record). On a terminal at
// the default level a person now sees only the friendly lines, the URL
// once; RELAY_LOG_LEVEL=debug shows every record; with stderr a pipe the
// records are there as before. Each runs the built relay through a whole
// sign-in against the backend binary with its authorization server.

// loginRun is `relay login` run as a person runs it: stdin and stdout a
// pseudo-terminal, and stderr the terminal too, or a pipe.
type loginRun struct {
	cmd    *exec.Cmd
	tty    *os.File
	screen *testkit.Buffer // what the terminal shows
	stderr *testkit.Buffer // stderr, when it is a pipe
	read   chan struct{}   // closed when the terminal has been read to its end
	exited chan struct{}
}

func startLogin(t *testing.T, env []string, stderrPipe bool) *loginRun {
	t.Helper()
	master, tty := testkit.OpenPTY(t)
	r := &loginRun{tty: tty, screen: &testkit.Buffer{}, stderr: &testkit.Buffer{},
		read: make(chan struct{}), exited: make(chan struct{})}
	go func() { _, _ = io.Copy(r.screen, master); close(r.read) }() // ends with EIO once no one holds the tty
	r.cmd = exec.Command(testkit.Relay(t), "login")
	r.cmd.Env = env
	r.cmd.Stdin, r.cmd.Stdout, r.cmd.Stderr = tty, tty, tty
	if stderrPipe {
		r.cmd.Stderr = r.stderr
	}
	testkit.NoErr(t, r.cmd.Start())
	go func() { _ = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() {
		select {
		case <-r.exited:
		default:
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
	})
	return r
}

// text is what the terminal shows so far, its line ends (\r\n) as \n.
func (r *loginRun) text() string { return strings.ReplaceAll(r.screen.String(), "\r\n", "\n") }

// wait waits for relay login to exit 0 and returns the whole screen.
func (r *loginRun) wait(t *testing.T) string {
	t.Helper()
	select {
	case <-r.exited:
	case <-time.After(time.Minute):
		t.Fatalf("relay login did not finish within a minute; the screen:\n%s%s", r.text(), r.stderr.String())
	}
	r.tty.Close() // the last holder of the terminal: the reader gets the rest, then EIO
	<-r.read
	if code := r.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("relay login exited %d; the screen:\n%s%s", code, r.text(), r.stderr.String())
	}
	return r.text()
}

// await polls the screen until re matches it, and returns the submatches.
func (r *loginRun) await(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	var m []string
	if !testkit.Eventually(30*time.Second, func() bool { m = re.FindStringSubmatch(r.text()); return m != nil }) {
		t.Fatalf("the screen never showed %s:\n%s", re, r.text())
	}
	return m
}

// friendlyOnly fails unless screen has no structured record and shows url
// (and code, if any) exactly once.
func friendlyOnly(t *testing.T, screen string, once ...string) {
	t.Helper()
	if strings.Contains(screen, "level=") || strings.Contains(screen, "time=") || strings.Contains(screen, "component=") {
		t.Errorf("a structured log record on the terminal at the default level:\n%s", screen)
	}
	for _, s := range once {
		if n := strings.Count(screen, s); n != 1 {
			t.Errorf("%q is on the screen %d times, want once:\n%s", s, n, screen)
		}
	}
}

// withoutLogLevel is e's environment with RELAY_LOG_LEVEL unset (the
// default, info), then extra.
func withoutLogLevel(d *defaultSetup, extra ...string) []string {
	delete(d.env.Vars, "RELAY_LOG_LEVEL")
	return d.env.Environ(extra...)
}

var (
	browserPrompt = `relay: opening your browser to sign in\. If it does not open, visit:\n\n  (\S+)\n\n`
	signedIn      = `relay: signed in as alice\b[^\n]*\n`
)

func TestE2E_LoginOnATerminal(t *testing.T) {
	t.Run("browser", func(t *testing.T) {
		d := startDefaultSetup(t)
		screen := startLogin(t, withoutLogLevel(d), false).wait(t)
		m := regexp.MustCompile(`^` + browserPrompt + `relay: the authorization server is ` + regexp.QuoteMeta(d.url) + `\n` + signedIn + `$`).
			FindStringSubmatch(screen)
		if m == nil {
			friendlyOnly(t, screen)
			t.Fatalf("the screen is not the prompt, the server and the sign-in:\n%s", screen)
		}
		if !strings.HasPrefix(m[1], d.url+"/authorize?") || d.opens() != 1 {
			t.Fatalf("URL %q, %d browser opens", m[1], d.opens())
		}
		friendlyOnly(t, screen, m[1])
	})

	t.Run("no-browser-device-grant", func(t *testing.T) {
		d := startDefaultSetup(t)
		delete(d.env.Vars, "BROWSER") // and no DISPLAY: the device grant
		r := startLogin(t, withoutLogLevel(d), false)
		m := r.await(t, regexp.MustCompile(`open this URL on any device:\n\n  (\S+)\n\nand enter the code:\n\n  (\S+)\n`))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		testkit.NoErr(t, fakebrowser.Device(ctx, m[1], m[2], fakebrowser.Options{User: "alice", Password: "alice-e2e-password"}), "sign in on the device page")
		screen := r.wait(t)
		want := regexp.MustCompile(`^relay: to sign in, open this URL on any device:\n\n  ` + regexp.QuoteMeta(m[1]) +
			`\n\nand enter the code:\n\n  ` + regexp.QuoteMeta(m[2]) + `\n\nrelay: the authorization server is ` + regexp.QuoteMeta(d.url) +
			`\nWaiting for you to finish\.\.\.\n` + signedIn + `$`)
		friendlyOnly(t, screen, m[1], m[2])
		if !want.MatchString(screen) {
			t.Fatalf("the screen is not the URL and code, the server and the sign-in:\n%s", screen)
		}
	})

	t.Run("browser-fails-warning", func(t *testing.T) {
		d := startDefaultSetup(t)
		d.env.Vars["BROWSER"] = filepath.Join(d.env.Home, "no-such-browser")
		r := startLogin(t, withoutLogLevel(d), false)
		warning := `relay: warning: could not open a browser; open the URL by hand \(err="platform: start browser [^\n]*no-such-browser[^\n]*\)\n`
		m := r.await(t, regexp.MustCompile(browserPrompt+`relay: the authorization server is \S+\n`+warning))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := fakebrowser.Login(ctx, m[1], fakebrowser.Options{User: "alice", Password: "alice-e2e-password"})
		testkit.NoErr(t, err, "open the URL by hand")
		screen := r.wait(t)
		friendlyOnly(t, screen, m[1])
		if !regexp.MustCompile(`^` + browserPrompt + `relay: the authorization server is ` + regexp.QuoteMeta(d.url) + `\n` + warning + signedIn + `$`).MatchString(screen) {
			t.Fatalf("the screen is not the prompt, the server, one short warning and the sign-in:\n%s", screen)
		}
	})

	t.Run("debug-shows-every-record", func(t *testing.T) {
		d := startDefaultSetup(t)
		screen := startLogin(t, d.env.Environ("RELAY_LOG_LEVEL=debug"), false).wait(t)
		testkit.Contains(t, "the screen at debug level", screen,
			"level=DEBUG msg=\"oauth: login started\"", "level=INFO msg=\"logged in\"",
			"msg=\"sign-in needed: open this URL in a browser\"", "relay: opening your browser to sign in")
	})

	t.Run("stderr-a-pipe-keeps-the-records", func(t *testing.T) {
		d := startDefaultSetup(t)
		r := startLogin(t, withoutLogLevel(d), true)
		if screen := r.wait(t); screen != "" {
			t.Errorf("the terminal shows %q; everything goes to stderr, a pipe", screen)
		}
		out := r.stderr.String()
		for _, re := range []string{`(?m)^time=\S+ level=INFO msg="vault: created" component=vault `,
			`(?m)^time=\S+ level=INFO msg="sign-in needed: open this URL in a browser" component=login url=`,
			`(?m)^time=\S+ level=INFO msg="logged in" component=broker sub=alice `,
			`(?m)^` + browserPrompt, `(?m)^` + signedIn} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("stderr, a pipe, has no line matching %s:\n%s", re, out)
			}
		}
	})
}
