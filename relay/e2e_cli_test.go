package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"os"
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
