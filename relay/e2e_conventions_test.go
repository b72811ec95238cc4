package main

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/cli"
)

// TestCLI_HelpAndVersion runs the binary: the help forms print on stdout
// and exit 0, without Go's flag dump; serve's help has its flags;
// --version is version.
func TestCLI_HelpAndVersion(t *testing.T) {
	e := testkit.NewRelayEnv(t)
	help, stderr, code := e.Run(t, "--help")
	if code != 0 || stderr != "" || !strings.Contains(help, "\ncommands:\n") || !strings.Contains(help, "\nexit codes:\n") || strings.Contains(help, "Usage of") {
		t.Fatalf("relay --help: exit %d, stderr %q\n%s", code, stderr, help)
	}
	if out := e.Prints(t, 0, "help"); out != help {
		t.Fatalf("relay help differs from relay --help:\n%s", out)
	}
	serve := e.Prints(t, 0, "help serve", "--mcp-url, RELAY_MCP_URL", "--backend-url, RELAY_BACKEND_URL")
	for _, cmd := range []string{"serve --help", "serve -h"} {
		if out := e.Prints(t, 0, cmd); out != serve {
			t.Fatalf("relay %s: not serve's help\n%s", cmd, out)
		}
	}
	version := e.Prints(t, 0, "version", "relay ")
	if !strings.HasPrefix(version, "relay ") || version == "relay \n" {
		t.Fatalf("relay version: %q", version)
	}
	if out, stderr, code := e.Run(t, "--version"); code != 0 || out != version || stderr != "" {
		t.Fatalf("relay --version: exit %d %q %q, want %q", code, out, stderr, version)
	}
}

// TestCLI_ConfigurationErrorsExit2: every bad command line or setting
// exits 2 with the error and a hint on stderr.
func TestCLI_ConfigurationErrorsExit2(t *testing.T) {
	policyFile := testkit.WriteTemp(t, "policy.json", `{"no_such_rule": true}`, 0o644)
	for _, tc := range []struct {
		name string
		vars map[string]string // "" deletes
		args []string
		hint string
	}{
		{"RELAY_VAULT_KEY=bogus, no backend URL", map[string]string{"RELAY_VAULT_KEY": "bogus"}, []string{"login"}, "set RELAY_BACKEND_URL"},
		{"RELAY_VAULT_KEY=bogus with a backend URL", map[string]string{"RELAY_VAULT_KEY": "bogus", "RELAY_BACKEND_URL": "http://127.0.0.1:1"}, []string{"login"}, "check RELAY_VAULT_KEY"},
		{"RELAY_VAULT_KEY=bogus at logout", map[string]string{"RELAY_VAULT_KEY": "bogus", "RELAY_BACKEND_URL": "http://127.0.0.1:1"}, []string{"logout"}, "check RELAY_VAULT_KEY"},
		{"an unknown flag", nil, []string{"login", "--frobnicate"}, "run `relay help login` for its flags"},
		{"an unknown flag of serve", nil, []string{"--frobnicate"}, "run `relay help serve` for its flags"},
		{"an unknown command", nil, []string{"frobnicate"}, "run `relay help` for the commands"},
		{"help for an unknown command", nil, []string{"help", "frobnicate"}, "run `relay help` for the commands"},
		{"not https", map[string]string{"RELAY_BACKEND_URL": "http://api.example.com"}, []string{"login"}, "fix the setting named above"},
		{"a bad duration", map[string]string{"RELAY_LOGIN_TIMEOUT": "soon"}, []string{"login"}, "run `relay help login`"},
		{"a bad policy file", map[string]string{"RELAY_BACKEND_URL": "http://127.0.0.1:1", "RELAY_POLICY_FILE": policyFile}, []string{"login"}, "fix the policy file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := testkit.NewRelayEnv(t)
			for k, v := range tc.vars {
				e.Vars[k] = v
			}
			out, stderr, code := e.Run(t, tc.args...)
			if code != cli.ExitUsage || !strings.Contains(stderr, "relay: error: ") || !strings.Contains(stderr, "relay: hint: "+tc.hint) {
				t.Fatalf("exit %d, want 2 and the hint %q\n%s", code, tc.hint, stderr)
			}
			if out != "" || strings.Contains(stderr, "Usage of") {
				t.Fatalf("stdout %q; stderr:\n%s", out, stderr)
			}
		})
	}
}

// TestCLI_StatusExitCodes: status exits 1 when signed out and 2 on a bad
// configuration, and --json prints one JSON object on stdout in every
// case, the problem included.
func TestCLI_StatusExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		vars    map[string]string
		args    []string
		code    int
		problem string // in the JSON's problem or config_problem
	}{
		{"signed out", map[string]string{"RELAY_BACKEND_URL": "http://127.0.0.1:1"}, nil, cli.ExitError, ""},
		{"no backend URL", nil, nil, cli.ExitUsage, "RELAY_BACKEND_URL (or RELAY_MCP_URL) is not set"},
		{"RELAY_VAULT_KEY=bogus", map[string]string{"RELAY_BACKEND_URL": "http://127.0.0.1:1", "RELAY_VAULT_KEY": "bogus"}, nil, cli.ExitUsage, "RELAY_VAULT_KEY must be"},
		{"a bad policy file", map[string]string{"RELAY_BACKEND_URL": "http://127.0.0.1:1", "RELAY_POLICY_FILE": "/nonexistent/policy.json"}, nil, cli.ExitUsage, "invalid policy file"},
		{"an unknown flag", nil, []string{"--frobnicate"}, cli.ExitUsage, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := testkit.NewRelayEnv(t)
			for k, v := range tc.vars {
				e.Vars[k] = v
			}
			text, _, code := e.Run(t, append([]string{"status"}, tc.args...)...)
			if code != tc.code || (tc.args == nil && !strings.Contains(text, "status:      logged out")) {
				t.Fatalf("relay status: exit %d, want %d\n%s", code, tc.code, text)
			}
			out, stderr, code := e.Run(t, append([]string{"status", "--json"}, tc.args...)...)
			var r struct {
				LoggedIn      *bool  `json:"logged_in"`
				Problem       string `json:"problem"`
				ConfigProblem string `json:"config_problem"`
			}
			if code != tc.code || json.Unmarshal([]byte(out), &r) != nil || r.LoggedIn == nil || *r.LoggedIn {
				t.Fatalf("relay status --json: exit %d, want %d; stdout %q\n%s", code, tc.code, out, stderr)
			}
			if !strings.Contains(r.Problem+"\n"+r.ConfigProblem, tc.problem) {
				t.Fatalf("the JSON lacks the problem %q: %s", tc.problem, out)
			}
		})
	}
}

// TestCLI_LoginServerUnreachable: a sign-in that cannot reach the server
// exits 3 and says to check the URL and the server.
func TestCLI_LoginServerUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	testkit.NoErr(t, err)
	addr := ln.Addr().String()
	ln.Close()
	e := testkit.NewRelayEnv(t)
	e.Vars["RELAY_BACKEND_URL"] = "http://" + addr
	e.Says(t, cli.ExitLogin, "login", "connection refused", "relay: hint: is the server running? check RELAY_BACKEND_URL")
}

// TestServe_OnATerminalSaysWhatItIs: a bare relay whose stdin is a
// terminal says once on stderr what it is and how to try keyrelay, then
// serves what is typed all the same. On a pipe (an MCP client) it says
// nothing.
func TestServe_OnATerminalSaysWhatItIs(t *testing.T) {
	const notice = "relay: this is an MCP server on stdio, started by an MCP client such as Claude Code;"
	e := testkit.NewRelayEnv(t)
	e.Vars["RELAY_BACKEND_URL"] = "http://127.0.0.1:1" // nothing listens: no network is needed
	master, tty := testkit.OpenPTY(t)
	cmd := exec.Command(testkit.Relay(t))
	cmd.Env = e.Environ()
	out, w, err := os.Pipe()
	testkit.NoErr(t, err)
	var stderr testkit.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, w, &stderr
	testkit.NoErr(t, cmd.Start())
	w.Close()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		out.Close()
	})
	testkit.Poll(t, 10*time.Second, "the notice on stderr", func() bool { return strings.Contains(stderr.String(), notice) })
	testkit.Contains(t, "the notice does not say how to try keyrelay", stderr.String(), "`relay login`", "`relay help`")
	// Typed on the terminal, a request is answered on stdout.
	_, err = master.WriteString(`{"jsonrpc":"2.0","id":7,"method":"ping"}` + "\n")
	testkit.NoErr(t, err)
	lines := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		lines <- l
	}()
	select {
	case l := <-lines:
		testkit.Contains(t, "the answer to a typed ping", l, `"id":7`, `"result"`)
	case <-time.After(10 * time.Second):
		t.Fatalf("no answer to a typed ping\n%s", stderr.String())
	}
	if n := strings.Count(stderr.String(), notice); n != 1 {
		t.Fatalf("the notice was said %d times", n)
	}

	p := e.Start(t, []string{"serve"})
	p.Send(t, `{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	if _, ok := p.Read(t, 10*time.Second); !ok {
		t.Fatal("no answer on a pipe")
	}
	if strings.Contains(p.Stderr.String(), "MCP server on stdio") {
		t.Fatalf("the notice was said to an MCP client on a pipe:\n%s", p.Stderr.String())
	}
}

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
