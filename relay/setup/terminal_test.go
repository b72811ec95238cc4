package setup

import (
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// onTerminal runs log with Logger on a pseudo-terminal at level, then
// writes "end" past the logger, and returns what the terminal showed
// before it ("\r\n" as "\n").
func onTerminal(t *testing.T, level string, log func(*slog.Logger)) string {
	t.Helper()
	master, tty := testkit.OpenPTY(t)
	var screen testkit.Buffer
	go func() { _, _ = io.Copy(&screen, master) }()
	log(Logger(tty, level).With("component", "vault"))
	testkit.NoErr(t, testkit.ErrOf(tty.WriteString("end\n")))
	out := func() string { return strings.ReplaceAll(screen.String(), "\r\n", "\n") }
	testkit.Poll(t, 10*time.Second, "the terminal to show everything", func() bool { return strings.HasSuffix(out(), "end\n") })
	return strings.TrimSuffix(out(), "end\n")
}

// some logs a record at each level, one with a secret, one with a line
// break in its message.
func some(l *slog.Logger) {
	l.Debug("oauth: token request", "endpoint", "https://as.example/token")
	l.Info("vault: created", "dir", "/home/a/.local/share/keyrelay")
	l.Warn("vault: data directory was accessible by others; mode set to 0700", "dir", "/d", "access_token", "eyJ-not-a-real-token")
	l.Error("cannot open the vault; tool calls will report it", "err", "no key")
	l.Warn("two\nlines")
}

// TestLoggerOnATerminal: on a terminal at info (the default), warn or
// error, the records below warn are dropped and the others are one short
// line each, secrets blanked; at debug they are all there as text records.
func TestLoggerOnATerminal(t *testing.T) {
	const warn = "relay: warning: vault: data directory was accessible by others; mode set to 0700 (dir=/d access_token=REDACTED)\n"
	const errLine = "relay: error: cannot open the vault; tool calls will report it (err=\"no key\")\n"
	const twoLines = "relay: warning: \"two\\nlines\"\n"
	for _, tc := range []struct{ level, want string }{
		{"info", warn + errLine + twoLines},
		{"", warn + errLine + twoLines},
		{"warn", warn + errLine + twoLines},
		{"error", errLine},
	} {
		if got := onTerminal(t, tc.level, some); got != tc.want {
			t.Errorf("level %q: the terminal shows\n%s\nwant\n%s", tc.level, got, tc.want)
		}
	}

	got := onTerminal(t, "debug", some)
	for _, re := range []string{
		`(?m)^time=\S+ level=DEBUG msg="oauth: token request" component=vault endpoint=https://as.example/token$`,
		`(?m)^time=\S+ level=INFO msg="vault: created" component=vault dir=/home/a/.local/share/keyrelay$`,
		`(?m)^time=\S+ level=WARN msg="vault: data directory was accessible by others; mode set to 0700" component=vault dir=/d access_token=REDACTED$`,
	} {
		if !regexp.MustCompile(re).MatchString(got) {
			t.Errorf("debug: no line matching %s in\n%s", re, got)
		}
	}
}

// TestLoggerNotOnATerminal: on a pipe, the text records at info, as
// always.
func TestLoggerNotOnATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	testkit.NoErr(t, err)
	defer r.Close()
	some(Logger(w, "info").With("component", "vault"))
	w.Close()
	b, err := io.ReadAll(r)
	testkit.NoErr(t, err)
	got := string(b)
	if strings.Contains(got, "relay: warning") || strings.Contains(got, "level=DEBUG") {
		t.Errorf("on a pipe:\n%s", got)
	}
	for _, re := range []string{
		`(?m)^time=\S+ level=INFO msg="vault: created" component=vault dir=/home/a/.local/share/keyrelay$`,
		`(?m)^time=\S+ level=WARN msg="vault: data directory was accessible by others; mode set to 0700" component=vault dir=/d access_token=REDACTED$`,
		`(?m)^time=\S+ level=ERROR msg="cannot open the vault; tool calls will report it" component=vault err="no key"$`,
	} {
		if !regexp.MustCompile(re).MatchString(got) {
			t.Errorf("on a pipe: no line matching %s in\n%s", re, got)
		}
	}
}
