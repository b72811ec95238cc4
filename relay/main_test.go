package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/relay/cli"
)

// The exit codes (relay/cli) under the names the tests use.
const (
	exitUsage      = cli.ExitUsage
	exitLogin      = cli.ExitLogin
	exitNotRevoked = cli.ExitNotRevoked
)

// runIn runs a command in this process with an empty environment.
func runIn(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, env{func(string) string { return "" }}, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

// TestHelpAndVersionForms: every way to ask for help prints the same text
// on stdout and exits 0; a command's help is its own; --version is
// version.
func TestHelpAndVersionForms(t *testing.T) {
	same := func(what string, forms ...[]string) string {
		t.Helper()
		var first string
		for i, args := range forms {
			out, stderr, code := runIn(t, args...)
			if code != 0 || stderr != "" || out == "" {
				t.Fatalf("%q: exit %d, stdout %q, stderr %q", args, code, out, stderr)
			}
			if i == 0 {
				first = out
			} else if out != first {
				t.Fatalf("%s: %q prints\n%s\nbut %q prints\n%s", what, args, out, forms[0], first)
			}
		}
		return first
	}
	overview := same("the help", []string{"help"}, []string{"-h"}, []string{"--help"}, []string{"-help"})
	if !strings.Contains(overview, "\ncommands:\n") || !strings.Contains(overview, "--mcp-url, RELAY_MCP_URL") || !strings.Contains(overview, "\nexit codes:\n") {
		t.Fatalf("the help lacks commands, settings or exit codes:\n%s", overview)
	}
	for _, cmd := range []string{"serve", "login", "logout", "status", "version", "help"} {
		h := same(cmd+"'s help", []string{"help", cmd}, []string{cmd, "-h"}, []string{cmd, "--help"}, []string{"--help", cmd})
		if !strings.HasPrefix(h, "usage: relay ") || h == overview {
			t.Fatalf("%s's help:\n%s", cmd, h)
		}
	}
	if h, _, _ := runIn(t, "help", "serve"); !strings.Contains(h, "--mcp-url") || strings.Contains(h, "Usage of") {
		t.Fatalf("serve's help:\n%s", h)
	}
	v := same("the version", []string{"version"}, []string{"--version"}, []string{"-version"})
	if !strings.HasPrefix(v, "relay ") || strings.Count(v, "\n") != 1 {
		t.Fatalf("version: %q", v)
	}
}

// TestUsageErrors: a bad command line prints the error and a hint on
// stderr, nothing on stdout, and exits 2.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		err, hint string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`, "run `relay help` for the commands"},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`, "run `relay help` for the commands"},
		{[]string{"status", "--nope"}, "flag provided but not defined: -nope", "run `relay help status` for its flags"},
		{[]string{"--nope"}, "flag provided but not defined: -nope", "run `relay help serve` for its flags"},
		{[]string{"login", "--json"}, "flag provided but not defined: -json", "run `relay help login` for its flags"},
		{[]string{"version", "extra"}, `unexpected argument "extra"`, "run `relay help version`"},
		{[]string{"logout", "--login-timeout=1ms"}, "RELAY_LOGIN_TIMEOUT", "run `relay help logout`"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, stderr, code := runIn(t, tc.args...)
			if code != exitUsage || out != "" || !strings.Contains(stderr, "relay: error: "+tc.err) || !strings.Contains(stderr, "relay: hint: "+tc.hint) {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, out, stderr)
			}
			if strings.Contains(stderr, "Usage of") || strings.Count(stderr, "\n") != 2 {
				t.Fatalf("want only the error and the hint:\n%s", stderr)
			}
		})
	}
}
