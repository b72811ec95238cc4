package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestMain removes the binaries the tests built.
func TestMain(m *testing.M) { testkit.Main(m) }

// cmdIn runs a backend command line in this process; the context is
// already cancelled, so a backend that starts stops at once.
func cmdIn(t *testing.T, envm map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	code = command(ctx, args, env(envm), &out, &errb)
	return out.String(), errb.String(), code
}

// TestHelpAndVersion: every way to ask for help prints the same text on
// stdout and exits 0, with every flag and its variable, and no value of
// the environment; --version is version.
func TestHelpAndVersion(t *testing.T) {
	secretish := map[string]string{"BACKEND_ADDR": "127.0.0.1:6123", "AUTH_SERVER_URL": "https://idp.example/secret-path"}
	help, stderr, code := cmdIn(t, secretish, "help")
	if code != exitOK || stderr != "" || !strings.Contains(help, "usage: backend [flags]") || !strings.Contains(help, "\nexit codes:\n") {
		t.Fatalf("backend help: exit %d, stderr %q\n%s", code, stderr, help)
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-help"}, {"--auth-server", "--help"}} {
		if out, _, code := cmdIn(t, secretish, args...); code != exitOK || out != help {
			t.Fatalf("backend %q: exit %d, not the help:\n%s", args, code, out)
		}
	}
	if strings.Contains(help, "6123") || strings.Contains(help, "idp.example") || strings.Contains(help, "Usage of") {
		t.Fatalf("the help shows the environment or Go's flag dump:\n%s", help)
	}
	fs := []string{"addr", "public-url", "audience", "auth-server-url", "jwt-secret-file", "auth-server", "auth-addr", "user", "token-ttl", "signing-key", "log-level"}
	for _, f := range fs {
		if !strings.Contains(help, "\n  --"+f+"\n") {
			t.Errorf("the help lacks --%s", f)
		}
	}
	if !strings.Contains(help, "(BACKEND_ADDR; default 127.0.0.1:5002)") {
		t.Errorf("the help lacks --addr's variable and default:\n%s", help)
	}
	version, _, code := cmdIn(t, nil, "version")
	if code != exitOK || !strings.HasPrefix(version, "backend ") || strings.Count(version, "\n") != 1 {
		t.Fatalf("backend version: exit %d %q", code, version)
	}
	if out, _, code := cmdIn(t, nil, "--version"); code != exitOK || out != version {
		t.Fatalf("backend --version: exit %d %q, want %q", code, out, version)
	}
}

// TestBadSettingsExit2: a bad command line or setting exits 2 with the
// error and a hint on stderr, and prints no password.
func TestBadSettingsExit2(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		hint string
	}{
		{"unknown flag", []string{"--nope"}, nil, "run `backend help`"},
		{"no issuer", nil, nil, "run `backend --auth-server`"},
		{"short JWT secret", []string{"--auth-server"}, map[string]string{"JWT_SECRET": "short"}, "run `backend help`"},
		{"bad user spec", []string{"--auth-server", "--user", "nopassword"}, nil, "run `backend help`"},
		{"bad log level", []string{"--auth-server", "--log-level", "loud"}, nil, "run `backend help`"},
		{"help with an argument", []string{"help", "extra"}, nil, "run `backend help`"},
		{"version with an argument", []string{"version", "extra"}, nil, "run `backend help`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, code := cmdIn(t, tc.env, tc.args...)
			if code != exitUsage || out != "" || !strings.HasPrefix(stderr, "backend: error: ") || !strings.Contains(stderr, "\nbackend: hint: "+tc.hint) {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, out, stderr)
			}
			if strings.Contains(stderr, "password") || strings.Count(stderr, "\n") != 2 {
				t.Fatalf("want only the error and the hint:\n%s", stderr)
			}
		})
	}
}

// occupy listens on a free loopback port for the test, and returns it.
func occupy(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	testkit.NoErr(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// TestBusyPort runs the binary on a port another program holds: it exits
// 1, names the address and the setting to change, and prints no password
// (the generated one is printed only once the listeners are up).
func TestBusyPort(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    func(busy string) []string
		setting string
	}{
		{"--addr", func(busy string) []string { return []string{"--auth-server", "--addr", busy} }, "--addr (BACKEND_ADDR)"},
		{"--auth-addr", func(busy string) []string {
			return []string{"--auth-server", "--addr", testkit.FreeAddr(t), "--auth-addr", busy}
		}, "--auth-addr (AUTH_SERVER_ADDR)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			busy := occupy(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, testkit.Backend(t), tc.args(busy)...)
			cmd.Env = []string{"PATH=/usr/bin:/bin"}
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitError {
				t.Fatalf("backend on a busy port: %v, want exit 1\n%s", err, errb.String())
			}
			stderr := errb.String()
			if !strings.Contains(stderr, "backend: error: listen "+busy+": ") || !strings.Contains(stderr, "address already in use") ||
				!strings.Contains(stderr, "backend: hint: another program listens on "+busy+": stop it, or choose another address with "+tc.setting) {
				t.Fatalf("no error naming the address, or no hint naming %s:\n%s", tc.setting, stderr)
			}
			if strings.Contains(stderr, "password") || out.Len() != 0 {
				t.Fatalf("a password or output before the listeners were up:\n%s%s", out.String(), stderr)
			}
		})
	}
}
