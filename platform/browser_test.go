//go:build unix

package platform

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestCheckBrowserURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://auth.example.com/authorize?client_id=a&state=b%20c", true},
		{"http://127.0.0.1:8080/cb", true},
		{"file:///etc/passwd", false},
		{"javascript:alert(1)", false},
		{"ftp://example.com/", false},
		{"-https://example.com", false},
		{"https://", false},
		{"https:opaque", false},
		{"https://example.com/a b", false},
		{"https://example.com/\"&calc", false},
		{"https://example.com/|x", false},
		{"https://example.com/\nx", false},
		{"https://exämple.com/", false},
		{"", false},
	}
	for _, tt := range tests {
		err := CheckBrowserURL(tt.url)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrUnsafeURL)) {
			t.Errorf("CheckBrowserURL(%q) = %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
}

// fakeBrowser writes a shell script used as $BROWSER and returns the file
// it records its arguments in. A script that writes its pid (and keeps
// running after OpenBrowser) there is killed when the test ends.
func fakeBrowser(t *testing.T, body string) (out string) {
	t.Helper()
	out = filepath.Join(t.TempDir(), "out")
	script := testkit.WriteTemp(t, "browser", "#!/bin/sh\nOUT='"+out+"'\n"+body+"\n", 0o700)
	t.Setenv(EnvBrowser, script+" --new-window")
	t.Cleanup(func() {
		if b, err := os.ReadFile(out); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return out
}

func TestOpenBrowserPassesURLAsOneArgument(t *testing.T) {
	out := fakeBrowser(t, `printf '%s\n' "$#" "$@" > "$OUT"; echo noise; echo noise >&2`)
	u := "https://example.com/authorize?a=1&b=$(touch%20/tmp/x);c"
	testkit.NoErr(t, OpenBrowser(context.Background(), u))
	b, err := os.ReadFile(out)
	testkit.NoErr(t, err)
	want := "2\n--new-window\n" + u + "\n"
	if string(b) != want {
		t.Fatalf("browser got %q, want %q", b, want)
	}
}

func TestOpenBrowserRefusesNonHTTPWithoutRunning(t *testing.T) {
	out := fakeBrowser(t, `touch "$OUT"`)
	for _, u := range []string{"file:///etc/passwd", "javascript:x", "https://x/;rm -rf ~"} {
		testkit.ExpectIs(t, OpenBrowser(context.Background(), u), ErrUnsafeURL, "OpenBrowser(%q)", u)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("the browser command ran for a refused URL")
	}
}

func TestOpenBrowserReportsLauncherFailure(t *testing.T) {
	fakeBrowser(t, `exit 3`)
	if err := OpenBrowser(context.Background(), "https://example.com/"); err == nil {
		t.Fatal("want an error from a launcher that exits 3")
	}
}

func TestOpenBrowserDoesNotWaitForever(t *testing.T) {
	old := browserWait
	browserWait = 200 * time.Millisecond
	t.Cleanup(func() { browserWait = old })
	fakeBrowser(t, `echo $$ > "$OUT"; exec sleep 60`)
	start := time.Now()
	testkit.NoErr(t, OpenBrowser(context.Background(), "https://example.com/"))
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("OpenBrowser waited %v for a browser that keeps running", d)
	}
}

func TestOpenBrowserHonoursContext(t *testing.T) {
	fakeBrowser(t, `echo $$ > "$OUT"; exec sleep 60`)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := OpenBrowser(ctx, "https://example.com/")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("OpenBrowser = %v after %v; want DeadlineExceeded promptly", err, time.Since(start))
	}
}

func TestSystemBrowserNeverUsesAShell(t *testing.T) {
	argv := browserCommand("", "https://example.com/")
	for _, a := range argv {
		if a == "sh" || a == "cmd" || a == "/bin/sh" || strings.Contains(a, "cmd.exe") {
			t.Fatalf("system browser command %q uses a shell", argv)
		}
	}
	if argv[len(argv)-1] != "https://example.com/" {
		t.Fatalf("URL is not the last argument: %q", argv)
	}
}

func TestBrowserAvailable(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if !BrowserAvailable(env(map[string]string{"BROWSER": "firefox", "SSH_TTY": "/dev/pts/1"})) {
		t.Fatal("$BROWSER set: want available")
	}
	if BrowserAvailable(env(map[string]string{"SSH_CONNECTION": "10.0.0.1 22 10.0.0.2 5555", "DISPLAY": ":0"})) {
		t.Fatal("SSH session: want unavailable")
	}
	if runtime.GOOS == "linux" {
		if BrowserAvailable(env(nil)) || !BrowserAvailable(env(map[string]string{"WAYLAND_DISPLAY": "wayland-0"})) {
			t.Fatal("display detection is wrong on linux")
		}
	}
}

// The URL characters CheckBrowserURL accepts and refuses are the ones its
// doc names: no shell sees the URL, so $ ( ) ; ' & are fine (issue 21).
func TestCheckBrowserURLCharacters(t *testing.T) {
	for _, ok := range []string{"https://as.example/a?b=$(x);'c'&d=1", "http://127.0.0.1:8080/cb?x=%20"} {
		if err := CheckBrowserURL(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, c := range []string{" ", "\"", "<", ">", "\\", "^", "`", "{", "|", "}", "\x7f", "\x01", "é", "\u202e"} {
		if err := CheckBrowserURL("https://as.example/a" + c + "b"); !errors.Is(err, ErrUnsafeURL) {
			t.Errorf("%q: %v, want ErrUnsafeURL", c, err)
		}
	}
}
