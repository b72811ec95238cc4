package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
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
		{[]string{"-h"}, "serve", []string{"-h"}},
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
	var force, device bool
	own := func(fs *flag.FlagSet) {
		fs.BoolVar(&force, "force", false, "")
		fs.BoolVar(&device, "device", false, "")
	}
	cfg, err := ParseCommand("login", []string{"--backend-url", "https://api.example", "-force", "--device=true", "--client-id=c"}, env(nil), io.Discard, own)
	testkit.NoErr(t, err)
	if !force || !device || cfg.BackendURL != "https://api.example" || cfg.ClientID != "c" {
		t.Fatalf("force=%v device=%v cfg=%+v", force, device, cfg)
	}
}

func TestParseCommandErrors(t *testing.T) {
	jsonFlag := func(fs *flag.FlagSet) { fs.Bool("json", false, "") }
	for _, tc := range []struct {
		name string
		args []string
		own  func(*flag.FlagSet)
		want string
	}{
		{"unknown flag", []string{"--nope"}, nil, "flag provided but not defined: -nope"},
		{"own flag of another command", []string{"--json"}, nil, "flag provided but not defined: -json"},
		{"bad own value", []string{"--json=maybe"}, jsonFlag, `invalid boolean value "maybe" for -json`},
		{"extra argument", []string{"--json", "extra"}, jsonFlag, `unexpected argument "extra"`},
		{"bad setting", []string{"--login-timeout=1ms"}, nil, "RELAY_LOGIN_TIMEOUT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCommand("status", tc.args, env(nil), io.Discard, tc.own)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseCommandHelp(t *testing.T) {
	var stderr bytes.Buffer
	_, err := ParseCommand("status", []string{"-h"}, env(nil), &stderr, nil)
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "Usage of status:") {
		t.Fatalf("got %v, stderr %q", err, stderr.String())
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
