package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"runtime"
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
	for _, f := range []string{"addr", "public-url", "audience", "auth-server-url", "jwt-secret-file", "auth-server", "auth-addr", "user", "token-ttl", "signing-key", "log-level"} {
		testkit.Contains(t, "the help lacks --"+f, help, "\n  --"+f+"\n")
	}
	testkit.Contains(t, "the help lacks --addr's variable and default", help, "(BACKEND_ADDR; default 127.0.0.1:5002)")
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
			out, stderr, code := testkit.RunCmd(t, testkit.Backend(t), []string{"PATH=/usr/bin:/bin"}, tc.args(busy)...)
			if code != exitError {
				t.Fatalf("backend on a busy port: exit %d, want 1\n%s", code, stderr)
			}
			if !strings.Contains(stderr, "backend: error: listen "+busy+": ") || !strings.Contains(stderr, "address already in use") ||
				!strings.Contains(stderr, "backend: hint: another program listens on "+busy+": stop it, or choose another address with "+tc.setting) {
				t.Fatalf("no error naming the address, or no hint naming %s:\n%s", tc.setting, stderr)
			}
			if strings.Contains(stderr, "password") || out != "" {
				t.Fatalf("a password or output before the listeners were up:\n%s%s", out, stderr)
			}
		})
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

const goodSecret = "test-secret-0123456789-abcdefghijklmnop"

func TestConfigDefaults(t *testing.T) {
	c, err := parseConfig([]string{"--auth-server"}, env(nil))
	testkit.NoErr(t, err)
	if c.Addr != "127.0.0.1:5002" || c.PublicURL != "http://127.0.0.1:5002" || c.AuthServerURL != c.PublicURL || c.TokenTTL != 15*time.Minute {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = parseConfig(nil, env(map[string]string{"BACKEND_AUTH_SERVER": "1", "BACKEND_ADDR": "127.0.0.1:6000", "AUTH_TOKEN_TTL": "2s", "AUTH_USERS": "a:b,c:d"}))
	if err != nil || !c.AuthServer || c.PublicURL != "http://127.0.0.1:6000" || c.TokenTTL != 2*time.Second || len(c.Users) != 2 {
		t.Fatalf("env: %+v %v", c, err)
	}
	c, err = parseConfig([]string{"--public-url", "https://api.example/"}, env(map[string]string{"AUTH_SERVER_URL": "https://idp.example/"}))
	if err != nil || c.PublicURL != "https://api.example" || c.AuthServerURL != "https://idp.example/" || c.Audience != c.PublicURL {
		t.Fatalf("public URL is canonicalised, issuer kept exact: %+v %v", c, err)
	}
	c, err = parseConfig([]string{"--audience", "relay-client"}, env(map[string]string{"AUTH_SERVER_URL": "https://idp.example"}))
	if err != nil || c.Audience != "relay-client" {
		t.Fatalf("audience override: %+v %v", c, err)
	}
	if _, err := parseConfig([]string{"--auth-server", "--audience", "x"}, env(nil)); err == nil {
		t.Fatal("audience override accepted with the built-in server")
	}
}

func TestB9_ShortJWTSecretRefusesStart(t *testing.T) {
	for _, s := range []string{"zq-sekrit", strings.Repeat("zq", 15)} {
		_, err := parseConfig([]string{"--auth-server"}, env(map[string]string{"JWT_SECRET": s}))
		if err == nil || !strings.Contains(err.Error(), "at least 32 bytes") {
			t.Fatalf("secret of %d bytes: %v", len(s), err)
		}
		if strings.Contains(err.Error(), s) {
			t.Fatal("error echoes the secret")
		}
	}
	empty := testkit.WriteTemp(t, "empty", "\n", 0o600)
	if _, err := parseConfig([]string{"--auth-server", "--jwt-secret-file", empty}, env(nil)); err == nil {
		t.Fatal("empty secret file accepted")
	}
	good := testkit.WriteTemp(t, "good", goodSecret+"\n", 0o600)
	c, err := parseConfig([]string{"--auth-server", "--jwt-secret-file", good}, env(nil))
	if err != nil || c.JWTSecret.Reveal() != goodSecret {
		t.Fatalf("secret file: %v", err)
	}
}

func TestBadSettingsAreOneLineErrors(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "AUTH_SERVER_URL is required"},
		{[]string{"--auth-server", "--public-url", "http://api.example"}, nil, "https"},
		{[]string{"--auth-server", "--public-url", "ftp://x"}, nil, "BACKEND_PUBLIC_URL"},
		{[]string{"--auth-server", "--public-url", "http://127.0.0.1:1/?q=1"}, nil, "query"},
		{[]string{"--auth-server-url", "http://idp.example"}, nil, "AUTH_SERVER_URL"},
		{[]string{"--auth-server"}, map[string]string{"AUTH_TOKEN_TTL": "25h"}, "AUTH_TOKEN_TTL"},
		{[]string{"--auth-server"}, map[string]string{"AUTH_TOKEN_TTL": "soon"}, "AUTH_TOKEN_TTL"},
		{[]string{"--auth-server"}, map[string]string{"BACKEND_ADDR": "nope"}, "BACKEND_ADDR"},
		{[]string{"--auth-server", "extra"}, nil, "unexpected argument"},
		{[]string{"--auth-addr", "127.0.0.1:1"}, map[string]string{"AUTH_SERVER_URL": "http://127.0.0.1:1"}, "needs --auth-server"},
		{[]string{"--auth-server", "--jwt-secret-file", "/x"}, map[string]string{"JWT_SECRET": goodSecret}, "not both"},
	}
	for _, c := range cases {
		_, err := parseConfig(c.args, env(c.env))
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v %v: got %v, want one line with %q", c.args, c.env, err, c.want)
		}
	}
}

// AUTH_MACHINE_CLIENTS_FILE is read as JWT_SECRET_FILE is (it may hold
// client secrets), and needs --auth-server.
func TestMachineClientsFile(t *testing.T) {
	wantServerFile(t, "--machine-clients", "AUTH_MACHINE_CLIENTS_FILE", `[{"client_id":"ci","client_secret":"machine-secret-0123456789","scopes":["notes:read"]}]`,
		func(c *config) bool { return len(c.Machines) == 1 && c.Machines[0].ID == "ci" })
}

// wantServerFile checks a file of the built-in server's, given with flag
// or setting: doc in a 0600 file is read (ok checks the config); the
// setting needs --auth-server; a copy others can read is refused, and
// the error holds no secret of doc's.
func wantServerFile(t *testing.T, flag, setting, doc string, ok func(*config) bool) {
	t.Helper()
	good := testkit.WriteTemp(t, "good.json", doc, 0o600)
	if c, err := parseConfig([]string{"--auth-server", flag, good}, env(nil)); err != nil || !ok(c) {
		t.Fatalf("%s: %v %+v", setting, err, c)
	}
	if _, err := parseConfig(nil, env(map[string]string{"AUTH_SERVER_URL": "https://idp.example", setting: good})); err == nil ||
		!strings.Contains(err.Error(), "needs --auth-server") {
		t.Fatalf("%s without --auth-server: %v", setting, err)
	}
	_, err := parseConfig([]string{"--auth-server", flag, testkit.WriteTemp(t, "open.json", doc, 0o644)}, env(nil))
	if runtime.GOOS != "windows" && (err == nil || !strings.Contains(err.Error(), setting)) {
		t.Fatalf("%s: a file others can read: %v", setting, err)
	}
	if err != nil && strings.Contains(err.Error(), "secret-0123456789") {
		t.Fatalf("the error holds the file's secret: %v", err)
	}
}

// Obviously fake secrets; the HS256 one is long enough to be accepted.
const (
	fakeJWTSecret = "FAKE-jwt-secret-for-printing-tests-0123456789"
	fakePassword  = "FAKE-password-for-printing-tests"
)

// TestConfigPrintsNoJWTSecret: a parsed config, printed with fmt, slog or
// encoding/json, does not show the HS256 secret, from JWT_SECRET or from
// --jwt-secret-file.
func TestConfigPrintsNoJWTSecret(t *testing.T) {
	file := testkit.WriteTemp(t, "secret", fakeJWTSecret+"\n", 0o600)
	for _, args := range [][]string{{"--auth-server"}, {"--auth-server", "--jwt-secret-file", file}} {
		getenv := env(map[string]string{"JWT_SECRET": fakeJWTSecret})
		if len(args) > 1 {
			getenv = env(nil)
		}
		c, err := parseConfig(args, getenv)
		testkit.NoErr(t, err)
		if c.JWTSecret.Reveal() != fakeJWTSecret {
			t.Fatal("the secret was not kept")
		}
		testkit.NoSecretPrinted(t, map[string]string{"JWT secret": fakeJWTSecret}, c, *c)
	}
}

// TestConfigPrintsNoPassword: the NAME:PASSWORD user specs, from --user or
// AUTH_USERS, do not print either.
func TestConfigPrintsNoPassword(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"--auth-server", "--user", "alice:" + fakePassword}, nil},
		{[]string{"--auth-server"}, map[string]string{"AUTH_USERS": "alice:" + fakePassword + ",bob:x"}},
	} {
		c, err := parseConfig(tc.args, env(tc.env))
		testkit.NoErr(t, err)
		if len(c.Users) == 0 || c.Users[0].Reveal() != "alice:"+fakePassword {
			t.Fatal("the user spec was not kept")
		}
		testkit.NoSecretPrinted(t, map[string]string{"password": fakePassword}, c, *c)
	}
}

// TestAppPrintsNoJWTSecret: the wired backend in HS256 mode, printed,
// shows no secret: the validator keeps its copy in a closure, not in a
// field.
func TestAppPrintsNoJWTSecret(t *testing.T) {
	c, err := parseConfig(nil, env(map[string]string{"JWT_SECRET": fakeJWTSecret, "AUTH_SERVER_URL": "http://127.0.0.1:5003"}))
	testkit.NoErr(t, err)
	a, err := build(context.Background(), c, slog.New(slog.DiscardHandler), io.Discard)
	testkit.NoErr(t, err)
	defer a.close()
	testkit.NoSecretPrinted(t, map[string]string{"JWT secret": fakeJWTSecret}, a, a.validator)
}

// AUTH_TRUSTED_IDPS_FILE is a trust anchor: read with the secret-file
// checks, and it needs --auth-server; a provider without a usable key is
// refused.
func TestTrustedIdPsFile(t *testing.T) {
	const jwk = `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`
	wantServerFile(t, "--trusted-idps", "AUTH_TRUSTED_IDPS_FILE", `[{"issuer":"https://login.corp.test","jwks":{"keys":[`+jwk+`]}}]`,
		func(c *config) bool {
			return len(c.TrustedIdPs) == 1 && c.TrustedIdPs[0].Issuer == "https://login.corp.test"
		})
	if _, err := parseConfig([]string{"--auth-server", "--trusted-idps", testkit.WriteTemp(t, "bad.json", `{"issuer":1}`, 0o600)}, env(nil)); err == nil ||
		!strings.Contains(err.Error(), "AUTH_TRUSTED_IDPS_FILE") {
		t.Fatalf("not a list: %v", err)
	}
}
