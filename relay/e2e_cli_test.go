package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/keyrelay/keyrelay/backend/authserver"
	"github.com/keyrelay/keyrelay/internal/fakebrowser"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/chain"
	"github.com/keyrelay/keyrelay/relay/cli"
	"github.com/keyrelay/keyrelay/relay/login"
	"github.com/keyrelay/keyrelay/vault"
)

func TestCLI_LoginStatusLogoutVersionHelp(t *testing.T) {
	_, e := backendEnv(t)
	e.Says(t, 0, "login", "signed in as alice", "/authorize?")
	e.Prints(t, 0, "status", "logged in as alice", "key source:  file")
	// login again: the stored token is used, no browser.
	if e.Says(t, 0, "login"); e.opens() != 1 {
		t.Fatalf("second login: %d opens", e.opens())
	}
	if e.Says(t, 0, "login --force"); e.opens() != 2 {
		t.Fatalf("login --force: %d opens", e.opens())
	}
	e.Says(t, 0, "logout", "logged out")
	e.Prints(t, 1, "status", "logged out")
	if out := e.Prints(t, 0, "version"); !strings.HasPrefix(out, "relay ") {
		t.Fatalf("version: %s", out)
	}
	e.Prints(t, 0, "help", "RELAY_VAULT_KEY")
	e.Says(t, exitUsage, "frobnicate", "relay: error: unknown command", "relay: hint:")
	e.Says(t, exitUsage, "login --backend-url http://example.com", "https")
}

func TestCLI_LoginDeniedExitCode(t *testing.T) {
	_, e := backendEnv(t)
	e.Vars["FAKEBROWSER_DENY"] = "1"
	e.Says(t, exitLogin, "login", "access_denied")
}

// TestE2E_ServerDiscover speaks the 2026-07-28 era to the relay binary on
// raw stdio: server/discover must answer at once, with no initialize, and
// nothing but JSON-RPC may appear on stdout.
func TestE2E_ServerDiscover(t *testing.T) {
	c := &chain.Server{URL: "http://127.0.0.1:1"} // nothing listens: no network is needed
	e := newRelayEnv(t, c)
	p := e.Start(t, []string{"serve"})
	p.Send(t, `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`)
	m, ok := p.Read(t, 10*time.Second) // the first line: a non-JSON one fails
	if !ok {
		t.Fatal("no answer to server/discover")
	}
	var res struct {
		SupportedVersions []string `json:"supportedVersions"`
	}
	if err := json.Unmarshal(m.Result, &res); err != nil || string(m.ID) != "1" || len(res.SupportedVersions) == 0 || res.SupportedVersions[0] != "2026-07-28" {
		t.Fatalf("discover answer: %s", m.Raw)
	}
}

// TestE2E_LoginURLAndProgressReachTheClient checks, in both protocol eras,
// that the sign-in URL reaches the client during a login: as an MCP log
// message (2025 era; the 2026-07-28 era forbids unrequested logs) and in
// the progress notifications sent for the call's progress token.
func TestE2E_LoginURLAndProgressReachTheClient(t *testing.T) {
	_, e := backendEnv(t)
	for _, era := range []string{"legacy", "modern"} {
		t.Run(era, func(t *testing.T) {
			s := e.startEra(era == "modern", "FAKEBROWSER_IGNORE=1", "RELAY_LOGIN_TIMEOUT=3s")
			req := mcp.CallToolRequest{}
			req.Params.Name = "whoami"
			req.Params.Meta = &mcp.Meta{ProgressToken: "p-1"}
			res, err := s.Client.CallTool(ctx30(t), req)
			if err != nil || !res.IsError {
				t.Fatalf("call: %v %+v", err, res)
			}
			if logs := s.notesOf("notifications/message"); era == "legacy" && !strings.Contains(strings.Join(logs, "\n"), "/authorize?") {
				t.Fatalf("no MCP log message with the URL: %v", logs)
			}
			if p := s.notesOf("notifications/progress"); len(p) == 0 || !strings.Contains(p[0], `"progressToken":"p-1"`) || !strings.Contains(p[0], "/authorize?") {
				t.Fatalf("no progress notification with the URL: %v", p)
			}
		})
	}
}

// TestE2E_NoBrowserGivesLiveURL: when no browser can be opened, the tool
// result carries the URL at once, the sign-in stays open, and after the
// person completes it by hand the next call works. Calls meanwhile get the
// same URL.
func TestE2E_NoBrowserGivesLiveURL(t *testing.T) {
	c, e := backendEnv(t)
	s := e.start("BROWSER=/nonexistent/browser")
	text := s.fails(t, "whoami", c.URL+"/authorize?") // a live URL
	i := strings.Index(text, c.URL+"/authorize?")
	url := strings.Fields(text[i:])[0]
	if again, _ := s.Call(t, "whoami", nil); !strings.Contains(again, url) {
		t.Fatalf("a second call started another sign-in: %s", again)
	}
	res, err := fakebrowser.Login(context.Background(), url, fakebrowser.Options{User: chain.User, Password: chain.Password})
	if err != nil || res.CallbackStatus != 200 {
		t.Fatalf("signing in by hand: %v %+v", err, res)
	}
	// The relay stores the tokens just after the callback page.
	s.whoamiWithin(t, 10*time.Second)
	if c.Codes.Load() != 1 {
		t.Fatalf("%d code exchanges, want 1", c.Codes.Load())
	}
}

var deviceLine = regexp.MustCompile(`open (http://\S+/device)\S* (?:on any device )?and enter the code ([A-Z0-9]{4}-[A-Z0-9]{4})`)

// TestE2E_DeviceLogin: `relay login --device` prints a URI and a code,
// a person completes the sign-in elsewhere, and the tokens are stored.
func TestE2E_DeviceLogin(t *testing.T) {
	_, e := backendEnv(t)
	p := e.Start(t, []string{"login", "--device"})
	uriLine, codeLine := regexp.MustCompile(`(?m)^\s+(http://\S+/device)$`), regexp.MustCompile(`(?m)^\s+([A-Z]{4}-[A-Z]{4})$`)
	testkit.Poll(t, 30*time.Second, "a device URI and code on stderr", func() bool {
		return uriLine.MatchString(p.Stderr.String()) && codeLine.MatchString(p.Stderr.String())
	})
	uri, code := uriLine.FindStringSubmatch(p.Stderr.String())[1], codeLine.FindStringSubmatch(p.Stderr.String())[1]
	testkit.NoErr(t, fakebrowser.Device(context.Background(), uri, code, fakebrowser.Options{User: chain.User, Password: chain.Password}))
	if !p.Exited(60*time.Second) || !p.Cmd.ProcessState.Success() {
		t.Fatalf("relay login --device: %v\n%s", p.Cmd.ProcessState, p.Stderr.String())
	}
	if e.Prints(t, 0, "status", "logged in as alice"); e.opens() != 0 {
		t.Fatal("a browser was opened for a device login")
	}
}

// TestE2E_NoDisplayUsesDeviceGrant: in the stdio server with no browser
// and no display, the tool result carries the URI and the code at once,
// and after the person finishes elsewhere the next call works.
func TestE2E_NoDisplayUsesDeviceGrant(t *testing.T) {
	_, e := backendEnv(t)
	s := e.start("BROWSER=", "SSH_CONNECTION=10.0.0.1 50000 10.0.0.2 22")
	text := s.fails(t, "whoami")
	m := deviceLine.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no device instructions in the result: %s", text)
	}
	testkit.NoErr(t, fakebrowser.Device(context.Background(), m[1], m[2], fakebrowser.Options{User: chain.User, Password: chain.Password}))
	// The relay polls every 5 s (the server's interval).
	s.whoamiWithin(t, 30*time.Second)
}

// TestE2E_DiscoveryAndDynamicRegistration: with only RELAY_BACKEND_URL set,
// the relay finds the authorization server from the backend (RFC 9728),
// registers itself (RFC 7591), keeps the registration in the vault, signs
// in and calls whoami; a second relay reuses the registration.
func TestE2E_DiscoveryAndDynamicRegistration(t *testing.T) {
	c, e := backendEnv(t)
	delete(e.Vars, "RELAY_AUTH_SERVER_URL")
	delete(e.Vars, "RELAY_CLIENT_ID")
	e.Vars["RELAY_LOGIN_TIMEOUT"] = "20s"
	s := e.start()
	out := s.whoami(t)
	testkit.Contains(t, "whoami with a dynamic client", out, `"client_id": "dyn-`, `"issuer": "`+c.URL+`"`)
	reg, err := e.vault().Get(context.Background(), login.RegistrationAccount(c.URL))
	if err != nil || reg.Registration == nil || !strings.HasPrefix(reg.Registration.ClientID, "dyn-") {
		t.Fatalf("registration not kept in the vault: %v", err)
	}
	testkit.Contains(t, "the issuer was not discovered from the backend", s.Stderr.String(), "authorization server discovered from the backend")
	testkit.Contains(t, "discovery did not use the URL from the backend's 401 challenge", s.Stderr.String(), "resource metadata named by the backend's challenge")
	s2 := e.start()
	testkit.Contains(t, "second relay did not reuse the registration", s2.whoami(t), reg.Registration.ClientID)
	e.Prints(t, 0, "status", "logged in as alice")
}

// TestE2E_StaleRegistrationReRegistersOnce: when the server no longer
// knows the stored dynamic client (invalid_client on refresh), the relay
// registers again once and signs in.
func TestE2E_StaleRegistrationReRegistersOnce(t *testing.T) {
	c, e := backendEnv(t)
	delete(e.Vars, "RELAY_CLIENT_ID")
	e.Vars["RELAY_LOGIN_TIMEOUT"] = "20s"
	e.start().whoami(t)
	ctx := context.Background()
	v := e.vault()
	reg, _ := v.Get(ctx, login.RegistrationAccount(c.URL))
	first := reg.Registration.ClientID
	err := v.Update(ctx, login.RegistrationAccount(c.URL), func(r *vault.Record) (*vault.Record, error) {
		r.Registration.ClientID = "dyn-forgotten-by-the-server"
		return r, nil
	})
	testkit.NoErr(t, err)
	accts, _ := v.Accounts(ctx)
	for _, a := range accts {
		if a.Resource != "" {
			_ = v.Update(ctx, a, func(r *vault.Record) (*vault.Record, error) { r.Expiry = time.Now().Add(-time.Minute); return r, nil })
		}
	}
	s := e.start()
	s.whoami(t)
	reg, _ = v.Get(ctx, login.RegistrationAccount(c.URL))
	if id := reg.Registration.ClientID; id == first || id == "dyn-forgotten-by-the-server" || !strings.HasPrefix(id, "dyn-") {
		t.Fatalf("not registered anew: %s", id)
	}
	if !strings.Contains(s.Stderr.String(), "registering again once") || e.opens() != 2 {
		t.Fatalf("%d opens; stderr lacks the re-registration", e.opens())
	}
}

// TestE2E_ClientSecretNotInChildEnvironment: RELAY_CLIENT_SECRET is
// removed from the relay's environment before the browser is started, so
// the browser command never sees it.
func TestE2E_ClientSecretNotInChildEnvironment(t *testing.T) {
	_, e := backendEnv(t)
	dumps := t.TempDir()
	const sec = "conf-client-secret-must-not-leak-42"
	s := e.start("RELAY_CLIENT_SECRET="+sec, "BROWSER="+browserWrapper(t, dumps, e.Vars["BROWSER"]))
	// The built-in server is public-client only and refuses a secret;
	// what matters here is what the browser command got.
	_, _ = s.Call(t, "whoami", nil)
	envs, _ := filepath.Glob(filepath.Join(dumps, "environ.*"))
	if len(envs) == 0 {
		t.Fatal("the browser was not started")
	}
	for _, p := range envs {
		if got, _ := os.ReadFile(p); strings.Contains(string(got), sec) || strings.Contains(string(got), "RELAY_CLIENT_SECRET") {
			t.Fatal("the client secret reached the browser's environment")
		}
	}
	if strings.Contains(s.Stderr.String(), sec) {
		t.Fatal("the client secret reached the relay's log")
	}
}

// TestE2E_ResourceOffKeepsTokensAndRegistrationApart: with
// RELAY_RESOURCE=off and a dynamic client, the token record and the
// registration record must not share a vault key (a reviewer found they
// did): a new process refreshes instead of signing in again.
func TestE2E_ResourceOffKeepsTokensAndRegistrationApart(t *testing.T) {
	c, e := backendEnv(t)
	delete(e.Vars, "RELAY_CLIENT_ID")
	e.Vars["RELAY_RESOURCE"] = "off"
	e.Vars["RELAY_LOGIN_TIMEOUT"] = "20s"
	e.start().whoami(t)
	ctx := context.Background()
	v := e.vault()
	tokAcct := vault.Account{Issuer: c.URL, Server: c.URL} // no resource: the account names the server (P1)
	if err := v.Update(ctx, tokAcct, func(r *vault.Record) (*vault.Record, error) {
		if r == nil || r.RefreshToken.IsZero() {
			return nil, errors.New("no token record under the resource-less account")
		}
		r.Expiry = time.Now().Add(-time.Minute)
		return r, nil
	}); err != nil {
		t.Fatal(err)
	}
	e.start().whoami(t)
	if e.opens() != 1 || c.Refreshes.Load() != 1 {
		t.Fatalf("%d opens, %d refreshes; want 1 and 1", e.opens(), c.Refreshes.Load())
	}
	if reg, err := v.Get(ctx, login.RegistrationAccount(c.URL)); err != nil || reg.Registration == nil {
		t.Fatalf("registration lost: %v", err)
	}
}

// TestCLI_LoginCustomCallback: `relay login` with RELAY_CALLBACK_HOST,
// RELAY_CALLBACK_PATH and RELAY_CALLBACK_PORT signs in with a client
// registered ahead of time for mcp-remote's redirect URI
// http://localhost:PORT/oauth/callback, which the server matches exactly.
func TestCLI_LoginCustomCallback(t *testing.T) {
	_, port, _ := net.SplitHostPort(testkit.FreeAddr(t))
	redirect := "http://localhost:" + port + "/oauth/callback"
	c := chain.Start(t, chain.Options{Clients: []authserver.Client{{ID: "from-mcp-remote", RedirectURIs: []string{redirect}, Scopes: []string{"notes:read"}}}})
	e := newRelayEnv(t, c)
	e.Vars["RELAY_CLIENT_ID"] = "from-mcp-remote"
	e.Vars["RELAY_SCOPES"] = "notes:read"
	e.Vars["RELAY_CALLBACK_PORT"] = port
	e.Vars["RELAY_CALLBACK_HOST"] = "localhost"
	e.Vars["RELAY_LOGIN_TIMEOUT"] = "20s" // fail fast when the server refuses the redirect URI
	e.Says(t, 0, "login --callback-path /oauth/callback", "signed in as alice", "redirect_uri="+url.QueryEscape(redirect))
	e.Says(t, exitUsage, "login --force --callback-host 0.0.0.0", "RELAY_CALLBACK_HOST")
}

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
			maps.Copy(e.Vars, tc.vars)
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
			maps.Copy(e.Vars, tc.vars)
			args := strings.Join(tc.args, " ")
			if text := e.Prints(t, tc.code, "status "+args); tc.args == nil && !strings.Contains(text, "status:      logged out") {
				t.Fatalf("relay status:\n%s", text)
			}
			out := e.Prints(t, tc.code, "status --json "+args)
			var r struct {
				LoggedIn      *bool  `json:"logged_in"`
				Problem       string `json:"problem"`
				ConfigProblem string `json:"config_problem"`
			}
			if json.Unmarshal([]byte(out), &r) != nil || r.LoggedIn == nil || *r.LoggedIn {
				t.Fatalf("relay status --json: stdout %q", out)
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
			maps.Copy(e.Vars, c.env)
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
