package main

import (
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// The secrets a person may put in a configured URL (F4), and what must
// be printed instead.
const (
	urlPassword = "PassW0rdX"
	urlKey      = "K3yVal"
)

// urlSecretCases are every URL setting of relay/config, each with a value
// that carries a password and a key and that Check refuses, and the text
// the refusal must show instead.
var urlSecretCases = []struct {
	name  string
	env   map[string]string // on top of a valid backend URL
	shown string            // what the error shows
}{
	{"RELAY_BACKEND_URL", map[string]string{"RELAY_BACKEND_URL": "http://user:" + urlPassword + "@example.com/?api_key=" + urlKey},
		`RELAY_BACKEND_URL "http://***@example.com/?***"`},
	{"RELAY_MCP_URL", map[string]string{"RELAY_BACKEND_URL": "", "RELAY_MCP_URL": "https://user:" + urlPassword + "@mcp.example.com/mcp?api_key=" + urlKey},
		`RELAY_MCP_URL "https://***@mcp.example.com/mcp?***"`},
	{"RELAY_MCP_URL query only", map[string]string{"RELAY_BACKEND_URL": "", "RELAY_MCP_URL": "https://mcp.example.com/mcp?api_key=" + urlKey + "&user=" + urlPassword},
		`RELAY_MCP_URL "https://mcp.example.com/mcp?***": no query, fragment or userinfo allowed; send an API key as a header with RELAY_HEADERS instead`},
	{"RELAY_AUTH_SERVER_URL", map[string]string{"RELAY_AUTH_SERVER_URL": "https://admin:" + urlPassword + "@login.example.com/?key=" + urlKey},
		`RELAY_AUTH_SERVER_URL "https://***@login.example.com/?***"`},
	{"RELAY_RESOURCE", map[string]string{"RELAY_RESOURCE": "https://user:" + urlPassword + "@api.example.com/?api_key=" + urlKey},
		`RELAY_RESOURCE "https://***@api.example.com/?***"`},
	{"RELAY_RESOURCE fragment", map[string]string{"RELAY_RESOURCE": "https://api.example.com/?api_key=" + urlKey + "#" + urlPassword},
		`RELAY_RESOURCE "https://api.example.com/?***"`},
	{"RELAY_CLIENT_METADATA_URL", map[string]string{"RELAY_CLIENT_METADATA_URL": "http://user:" + urlPassword + "@example.com/client.json?api_key=" + urlKey},
		`RELAY_CLIENT_METADATA_URL "http://***@example.com/client.json?***"`},
}

// TestF4_URLSecretsNeverPrinted: a password or key inside a configured URL
// that the relay refuses appears nowhere it prints: serve's stderr (the
// start-up line, the error line), the tool results the model reads,
// `relay status` and `status --json`, login and logout. The refusal still
// names the setting and shows the URL's scheme, host and path.
func TestF4_URLSecretsNeverPrinted(t *testing.T) {
	for _, c := range urlSecretCases {
		t.Run(c.name, func(t *testing.T) {
			e := testkit.NewRelayEnv(t)
			e.Vars["RELAY_BACKEND_URL"] = "https://api.example.com"
			for k, v := range c.env {
				e.Vars[k] = v
			}
			for k, v := range e.Vars {
				if v == "" {
					delete(e.Vars, k)
				}
			}

			s := e.Serve(t, "", nil)
			whoami, isErr := s.Call(t, "whoami", nil)
			status, _ := s.Call(t, "keyrelay_status", nil)
			if !isErr || !strings.Contains(whoami, "keyrelay is not configured") || !strings.Contains(whoami, c.shown) {
				t.Errorf("tool result %q, want the refusal showing %s", whoami, c.shown)
			}
			testkit.NoErr(t, s.Close())
			outputs := map[string]string{"tool result": whoami, "keyrelay_status result": status, "serve stderr": s.Stderr.String()}

			for _, args := range [][]string{{"status"}, {"status", "--json"}, {"login"}, {"logout"}} {
				stdout, stderr, _ := e.Run(t, args...)
				outputs[strings.Join(args, " ")+" stdout"], outputs[strings.Join(args, " ")+" stderr"] = stdout, stderr
			}
			if !strings.Contains(outputs["status stdout"], c.shown) || !strings.Contains(outputs["login stderr"], c.shown) {
				t.Errorf("status and login should show the refusal %s:\n%s\n%s", c.shown, outputs["status stdout"], outputs["login stderr"])
			}
			noURLSecret(t, outputs)
		})
	}
}

// TestF4_URLSecretsNotInUsageOrArguments: a bad flag's error, the help
// (which shows no value from the environment) and a URL given as an
// argument (as to mcp-remote), quoted in the error: none shows a password
// or a key.
func TestF4_URLSecretsNotInUsageOrArguments(t *testing.T) {
	e := testkit.NewRelayEnv(t)
	for _, c := range urlSecretCases {
		for k, v := range c.env {
			if v != "" {
				e.Vars[k] = v
			}
		}
	}
	outputs := map[string]string{}
	_, outputs["usage"], _ = e.Run(t, "status", "--no-such-flag")
	help, helpErr, _ := e.Run(t, "login", "-h")
	outputs["help flag"] = help + helpErr
	_, arg, code := e.Run(t, "serve", "https://user:"+urlPassword+"@mcp.example.com/mcp?api_key="+urlKey)
	outputs["argument"] = arg
	if code != exitUsage || !strings.Contains(arg, `unexpected argument "https://***@mcp.example.com/mcp?***": give a server's URL with --mcp-url`) {
		t.Errorf("a URL argument: exit %d\n%s", code, arg)
	}
	// The help shows no value from the environment, redacted or not.
	if !strings.Contains(help, "--client-metadata-url, RELAY_CLIENT_METADATA_URL") || strings.Contains(help, "example.com") {
		t.Errorf("the help should name the flags and show no configured value:\n%s", help)
	}
	noURLSecret(t, outputs)
}

// noURLSecret fails the test for each output that holds the password or
// the key.
func noURLSecret(t *testing.T, outputs map[string]string) {
	t.Helper()
	for where, out := range outputs {
		for _, s := range []string{urlPassword, urlKey} {
			if strings.Contains(out, s) {
				t.Errorf("%s shows %s:\n%s", where, s, out)
			}
		}
	}
}
