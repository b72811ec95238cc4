package config

import (
	"errors"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		name string
		rest []string
	}{
		{nil, "serve", nil},
		{[]string{"--backend-url", "x"}, "serve", []string{"--backend-url", "x"}},
		{[]string{"-h"}, "help", []string{}},
		{[]string{"--help", "login"}, "help", []string{"login"}},
		{[]string{"-help"}, "help", []string{}},
		{[]string{"--version"}, "version", []string{}},
		{[]string{"-version"}, "version", []string{}},
		{[]string{"--backend-url", "x", "--help"}, "serve", []string{"--backend-url", "x", "--help"}},
		{[]string{""}, "serve", []string{""}},
		{[]string{"status", "--json"}, "status", []string{"--json"}},
		{[]string{"help", "login"}, "help", []string{"login"}},
	} {
		name, rest := Command(tc.args)
		if name != tc.name || !slices.Equal(rest, tc.rest) {
			t.Errorf("Command(%q) = %q %q, want %q %q", tc.args, name, rest, tc.name, tc.rest)
		}
	}
}

func TestParseCommand(t *testing.T) {
	cfg, sw, err := ParseCommand("login", []string{"--backend-url", "https://api.example", "-force", "--device=true", "--client-id=c"}, env(nil))
	testkit.NoErr(t, err)
	if !sw.Force || !sw.Device || sw.JSON || cfg.BackendURL != "https://api.example" || cfg.ClientID != "c" {
		t.Fatalf("switches %+v cfg=%+v", sw, cfg)
	}
	_, sw, err = ParseCommand("status", []string{"--json"}, env(nil))
	if err != nil || !sw.JSON {
		t.Fatalf("status --json: %+v %v", sw, err)
	}
}

func TestParseCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		name, cmd string
		args      []string
		want      string
	}{
		{"unknown flag", "status", []string{"--nope"}, "flag provided but not defined: -nope"},
		{"own flag of another command", "logout", []string{"--json"}, "flag provided but not defined: -json"},
		{"bad own value", "status", []string{"--json=maybe"}, `invalid boolean value "maybe" for -json`},
		{"extra argument", "status", []string{"--json", "extra"}, `unexpected argument "extra"`},
		{"bad setting", "status", []string{"--login-timeout=1ms"}, "RELAY_LOGIN_TIMEOUT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseCommand(tc.cmd, tc.args, env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestParseCommandHelp: -h, -help and --help anywhere ask for the help,
// which the caller prints; the own flags parsed before a bad shared one
// are still returned (status --json prints its report even then).
func TestParseCommandHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-help"}, {"--json", "--help"}} {
		if _, _, err := ParseCommand("status", args, env(nil)); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%q: got %v, want flag.ErrHelp", args, err)
		}
	}
	if _, sw, err := ParseCommand("status", []string{"--json", "--nope"}, env(nil)); err == nil || !sw.JSON {
		t.Fatalf("status --json --nope: %+v %v", sw, err)
	}
}

func TestTrimFlag(t *testing.T) {
	for in, want := range map[string]string{"--json": "json", "-json=true": "json", "force": "force", "--a=b=c": "a", "-": "", "--=x": ""} {
		if got := trimFlag(in); got != want {
			t.Errorf("trimFlag(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestScrubEnv(t *testing.T) {
	t.Setenv("RELAY_CLIENT_SECRET", "fake-client-secret")
	t.Setenv("RELAY_HEADERS", "X-Api-Key: fake-key")
	t.Setenv("RELAY_CLIENT_ID", "relay-test")
	getenv := ScrubEnv()
	for _, k := range []string{"RELAY_CLIENT_SECRET", "RELAY_HEADERS"} {
		if v, ok := os.LookupEnv(k); ok {
			t.Errorf("%s still in the environment: %q", k, v)
		}
	}
	if getenv("RELAY_CLIENT_SECRET") != "fake-client-secret" || getenv("RELAY_HEADERS") != "X-Api-Key: fake-key" || getenv("RELAY_CLIENT_ID") != "relay-test" {
		t.Fatal("getenv lost a value")
	}
	if os.Getenv("RELAY_CLIENT_ID") != "relay-test" {
		t.Fatal("a variable that is not secret was removed")
	}
}
