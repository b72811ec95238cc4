package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// Obviously fake secrets; the HS256 one is long enough to be accepted.
const (
	fakeJWTSecret = "FAKE-jwt-secret-for-printing-tests-0123456789"
	fakePassword  = "FAKE-password-for-printing-tests"
)

// TestConfigPrintsNoJWTSecret: a parsed config, printed with fmt, slog or
// encoding/json, does not show the HS256 secret, from JWT_SECRET or from
// --jwt-secret-file.
func TestConfigPrintsNoJWTSecret(t *testing.T) {
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(fakeJWTSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--auth-server"}, {"--auth-server", "--jwt-secret-file", file}} {
		getenv := env(map[string]string{"JWT_SECRET": fakeJWTSecret})
		if len(args) > 1 {
			getenv = env(nil)
		}
		c, err := parseConfig(args, getenv)
		if err != nil {
			t.Fatal(err)
		}
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
		if err != nil {
			t.Fatal(err)
		}
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
	if err != nil {
		t.Fatal(err)
	}
	a, err := build(context.Background(), c, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	testkit.NoSecretPrinted(t, map[string]string{"JWT secret": fakeJWTSecret}, a, a.validator)
}
