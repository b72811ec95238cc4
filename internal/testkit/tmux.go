package testkit

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Tmux is a private tmux server for one test: real terminals, driven as a
// person drives them (keys typed, the screen read). Its socket is in a
// directory of its own, it reads no configuration file (-f /dev/null),
// and it is killed, with what runs in it, when the test ends.
type Tmux struct {
	t      testing.TB
	socket string
	env    []string
	dir    string
}

// tmuxPoll is how often WaitFor reads the screen: each read runs
// `tmux capture-pane`.
const tmuxPoll = 100 * time.Millisecond

// StartTmux starts a tmux server whose first window, "main", runs sh in
// dir. The server, and so every window's shell, gets exactly env. Without
// tmux the test skips, and fails under CI=true (SkipOrFail).
func StartTmux(t testing.TB, dir string, env []string) *Tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		SkipOrFail(t, "tmux not found: this test drives a real terminal (apt-get install tmux)")
	}
	// A short directory: a unix socket path is limited to about 100 bytes.
	sockDir, err := os.MkdirTemp("", "kr-tmux")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	x := &Tmux{t: t, socket: filepath.Join(sockDir, "sock"), env: env, dir: dir}
	x.run("", "new-session", "-d", "-s", "kr", "-n", "main", "-x", "200", "-y", "50", "-c", dir, "sh")
	t.Cleanup(func() { _ = x.cmd("", "kill-server").Run() })
	return x
}

// cmd is a tmux client command against this server.
func (x *Tmux) cmd(stdin string, args ...string) *exec.Cmd {
	c := exec.Command("tmux", append([]string{"-S", x.socket, "-f", "/dev/null"}, args...)...)
	c.Env = x.env
	c.Dir = x.dir
	if stdin != "" {
		c.Stdin = strings.NewReader(stdin)
	}
	return c
}

func (x *Tmux) run(stdin string, args ...string) string {
	x.t.Helper()
	out, err := x.cmd(stdin, args...).CombinedOutput()
	if err != nil {
		x.t.Fatalf("tmux %s: %v\n%s", args[0], err, out)
	}
	return string(out)
}

// Pane is the pane of one window.
type Pane struct {
	x      *Tmux
	target string
}

// Main is the first window's pane.
func (x *Tmux) Main() *Pane { return &Pane{x: x, target: "kr:main"} }

// Window opens a window named name running sh in the server's directory.
func (x *Tmux) Window(name string) *Pane {
	x.t.Helper()
	x.run("", "new-window", "-d", "-t", "kr:", "-n", name, "-c", x.dir, "sh")
	return &Pane{x: x, target: "kr:" + name}
}

// Type types line and presses Enter.
func (p *Pane) Type(line string) {
	p.x.t.Helper()
	p.x.run("", "send-keys", "-t", p.target, "-l", line)
	p.Keys("Enter")
}

// Keys presses keys, in tmux's names: "Enter", "C-c".
func (p *Pane) Keys(keys ...string) {
	p.x.t.Helper()
	p.x.run("", append([]string{"send-keys", "-t", p.target}, keys...)...)
}

// Paste types text as a paste, without Enter. The text reaches tmux on
// its stdin (load-buffer -), so it is in no process's argument list: for
// a password.
func (p *Pane) Paste(text string) {
	p.x.t.Helper()
	p.x.run(text, "load-buffer", "-b", "kr-paste", "-")
	p.x.run("", "paste-buffer", "-d", "-b", "kr-paste", "-t", p.target)
}

// Capture is the pane's text: its history and screen, wrapped lines
// joined.
func (p *Pane) Capture() string {
	p.x.t.Helper()
	return p.x.run("", "capture-pane", "-p", "-J", "-S", "-", "-t", p.target)
}

// WaitFor reads the pane until re matches, for up to d, and returns the
// match and its submatches; on timeout the test fails, showing the pane.
func (p *Pane) WaitFor(d time.Duration, re *regexp.Regexp) []string {
	p.x.t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(tmuxPoll)
	defer tick.Stop()
	for {
		screen := p.Capture()
		if m := re.FindStringSubmatch(screen); m != nil {
			return m
		}
		select {
		case <-deadline.C:
			p.x.t.Fatalf("timed out after %v waiting for %q in tmux window %s; it shows:\n%s", d, re, p.target, screen)
		case <-tick.C:
		}
	}
}

// WaitForText is WaitFor for a literal text.
func (p *Pane) WaitForText(d time.Duration, text string) {
	p.x.t.Helper()
	p.WaitFor(d, regexp.MustCompile(regexp.QuoteMeta(text)))
}
