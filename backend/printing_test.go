package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		c, err := parseConfig(args, getenv, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.JWTSecret.Reveal() != fakeJWTSecret {
			t.Fatal("the secret was not kept")
		}
		secrets := map[string]string{"JWT secret": fakeJWTSecret}
		assertPrintsNone(t, c, secrets)
		assertPrintsNone(t, *c, secrets)
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
		c, err := parseConfig(tc.args, env(tc.env), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Users) == 0 || c.Users[0].Reveal() != "alice:"+fakePassword {
			t.Fatal("the user spec was not kept")
		}
		secrets := map[string]string{"password": fakePassword}
		assertPrintsNone(t, c, secrets)
		assertPrintsNone(t, *c, secrets)
	}
}

// TestAppPrintsNoJWTSecret: the wired backend in HS256 mode, printed,
// shows no secret: the validator keeps its copy in a closure, not in a
// field.
func TestAppPrintsNoJWTSecret(t *testing.T) {
	c, err := parseConfig(nil, env(map[string]string{"JWT_SECRET": fakeJWTSecret, "AUTH_SERVER_URL": "http://127.0.0.1:5003"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, err := build(context.Background(), c, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	secrets := map[string]string{"JWT secret": fakeJWTSecret}
	assertPrintsNone(t, a, secrets)
	assertPrintsNone(t, a.validator, secrets)
}

// assertPrintsNone fails if any way of printing v shows one of secrets.
func assertPrintsNone(t *testing.T, v any, secrets map[string]string) {
	t.Helper()
	for how, out := range printings(v) {
		for name, s := range secrets {
			if s == "" {
				t.Fatalf("the %s is empty: nothing to look for", name)
			}
			for _, enc := range encodings(s) {
				if strings.Contains(out, enc) {
					t.Errorf("%s of a %T shows the %s: %s", how, v, name, out)
				}
			}
		}
	}
}

// printings is v printed by fmt (%v, %+v, %#v, %s), by slog's JSON and text
// handlers, and by json.Marshal (its error text, if it fails).
func printings(v any) map[string]string {
	var js, txt bytes.Buffer
	slog.New(slog.NewJSONHandler(&js, nil)).Info("print", "v", v)
	slog.New(slog.NewTextHandler(&txt, nil)).Info("print", "v", v)
	j, err := json.Marshal(v)
	if err != nil {
		j = []byte("json error: " + err.Error())
	}
	return map[string]string{
		"%v": fmt.Sprintf("%v", v), "%+v": fmt.Sprintf("%+v", v), "%#v": fmt.Sprintf("%#v", v), "%s": fmt.Sprintf("%s", v),
		"slog JSON": js.String(), "slog text": txt.String(), "json.Marshal": string(j),
	}
}

// encodings are the ways fmt or an encoder could spell s: as is, as hex,
// base64 and fmt's byte list ("[116 101 ...]" without the brackets).
func encodings(s string) []string {
	b := []byte(s)
	return []string{s, hex.EncodeToString(b), base64.StdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		strings.Trim(fmt.Sprint(b), "[]")}
}
