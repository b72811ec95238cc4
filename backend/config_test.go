package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

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
	dir := t.TempDir()
	doc := []byte(`[{"client_id":"ci","client_secret":"machine-secret-0123456789","scopes":["notes:read"]}]`)
	good := filepath.Join(dir, "m.json")
	if err := os.WriteFile(good, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parseConfig([]string{"--auth-server", "--machine-clients", good}, env(nil))
	if err != nil || len(c.Machines) != 1 || c.Machines[0].ID != "ci" {
		t.Fatalf("%v %+v", err, c)
	}
	if _, err := parseConfig(nil, env(map[string]string{"AUTH_SERVER_URL": "https://idp.example", "AUTH_MACHINE_CLIENTS_FILE": good})); err == nil ||
		!strings.Contains(err.Error(), "needs --auth-server") {
		t.Fatalf("without --auth-server: %v", err)
	}
	open := filepath.Join(dir, "open.json")
	if err := os.WriteFile(open, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = parseConfig([]string{"--auth-server", "--machine-clients", open}, env(nil))
	if runtime.GOOS != "windows" && (err == nil || !strings.Contains(err.Error(), "AUTH_MACHINE_CLIENTS_FILE")) {
		t.Fatalf("a file others can read: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "machine-secret") {
		t.Fatalf("the error holds the secret: %v", err)
	}
}

// AUTH_TRUSTED_IDPS_FILE is a trust anchor: read with the secret-file
// checks, and it needs --auth-server; a provider without a usable key is
// refused.
func TestTrustedIdPsFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const jwk = `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`
	good := write("idps.json", `[{"issuer":"https://login.corp.test","jwks":{"keys":[`+jwk+`]}}]`, 0o600)
	c, err := parseConfig([]string{"--auth-server", "--trusted-idps", good}, env(nil))
	if err != nil || len(c.TrustedIdPs) != 1 || c.TrustedIdPs[0].Issuer != "https://login.corp.test" {
		t.Fatalf("%v %+v", err, c)
	}
	if _, err := parseConfig(nil, env(map[string]string{"AUTH_SERVER_URL": "https://as.test", "AUTH_TRUSTED_IDPS_FILE": good})); err == nil ||
		!strings.Contains(err.Error(), "needs --auth-server") {
		t.Fatalf("without --auth-server: %v", err)
	}
	open := write("open.json", `[{"issuer":"https://login.corp.test","jwks":{"keys":[`+jwk+`]}}]`, 0o644)
	if _, err := parseConfig([]string{"--auth-server", "--trusted-idps", open}, env(nil)); runtime.GOOS != "windows" &&
		(err == nil || !strings.Contains(err.Error(), "AUTH_TRUSTED_IDPS_FILE")) {
		t.Fatalf("a file others can read: %v", err)
	}
	if _, err := parseConfig([]string{"--auth-server", "--trusted-idps", write("bad.json", `{"issuer":1}`, 0o600)}, env(nil)); err == nil ||
		!strings.Contains(err.Error(), "AUTH_TRUSTED_IDPS_FILE") {
		t.Fatalf("not a list: %v", err)
	}
}
