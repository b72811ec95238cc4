package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit/chain"
	"github.com/keyrelay/keyrelay/relay/front"
)

// Flow 1 (first use) and flow 2 (valid token reused, no browser).
func TestE2E_FirstUseThenReuse(t *testing.T) {
	c, e := backendEnv(t)
	s := e.start()
	if out := s.whoami(t); !strings.Contains(out, `"subject": "alice"`) {
		t.Fatalf("whoami: %s", out)
	}
	if e.opens() != 1 || c.Codes.Load() != 1 {
		t.Fatalf("first use: %d browser opens, %d code exchanges", e.opens(), c.Codes.Load())
	}
	s.whoami(t)
	// A new relay process uses the vault: still no browser.
	s2 := e.start()
	s2.MustCall(t, "read_notes", nil)
	if e.opens() != 1 || c.Refreshes.Load() != 0 {
		t.Fatalf("reuse: %d opens, %d refreshes", e.opens(), c.Refreshes.Load())
	}
}

func TestE2E_PublicToolWithoutLogin(t *testing.T) {
	c, e := backendEnv(t)
	s := e.start()
	if out := s.MustCall(t, "echo", map[string]any{"message": "hello"}); out != "hello" {
		t.Fatalf("echo: %q", out)
	}
	if e.opens() != 0 || c.Codes.Load() != 0 {
		t.Fatal("a public tool caused a login")
	}
	if e.hasTokens() {
		t.Fatal("a public tool wrote tokens")
	}
}

// Flow 3: an expired token is refreshed, with no browser.
func TestE2E_ExpiredTokenRefreshed(t *testing.T) {
	c, e := backendEnv(t)
	e.start().whoami(t)
	e.expireStored()
	e.start().whoami(t)
	if c.Refreshes.Load() != 1 || e.opens() != 1 {
		t.Fatalf("%d refreshes, %d opens", c.Refreshes.Load(), e.opens())
	}
}

// Flow 4: the refresh fails (invalid_grant) and a fresh login follows, once.
func TestE2E_RefreshFailsThenLogin(t *testing.T) {
	c, e := backendEnv(t)
	e.start().whoami(t)
	revokeAt(t, c.URL, e.stored(t).RefreshToken.Reveal()) // the server kills the grant
	e.expireStored()
	e.start().whoami(t)
	if c.Refreshes.Load() != 1 || e.opens() != 2 {
		t.Fatalf("%d refreshes, %d opens; want 1 and 2", c.Refreshes.Load(), e.opens())
	}
}

// Flow 5: a 401 mid-session (the server stops accepting the token) leads
// to one refresh and one retry, no browser.
func TestE2E_401MidSessionRefreshAndRetry(t *testing.T) {
	inModes(t, func(t *testing.T, c *chain.Server, e *relayEnv) {
		s := e.start()
		s.whoami(t)
		c.RevokeSeen()
		s.whoami(t)
		if c.Refreshes.Load() != 1 || e.opens() != 1 {
			t.Fatalf("%d refreshes, %d opens; want 1 and 1", c.Refreshes.Load(), e.opens())
		}
	})
}

// Flow 6: the login times out; the result says so and that the link has
// expired (a dead URL would mislead; see TestE2E_NoBrowserGivesLiveURL for
// the live one).
func TestE2E_LoginTimeout(t *testing.T) {
	_, e := backendEnv(t)
	s := e.start("RELAY_LOGIN_TIMEOUT=2s", "FAKEBROWSER_IGNORE=1")
	s.fails(t, "whoami", "did not complete in time", "call the tool again")
	if out := s.MustCall(t, "echo", map[string]any{"message": "still up"}); out != "still up" {
		t.Fatal("relay not serving after a login timeout")
	}
}

// Flow 7: the user denies consent.
func TestE2E_UserDenies(t *testing.T) {
	c, e := backendEnv(t)
	s := e.start("FAKEBROWSER_DENY=1")
	s.fails(t, "whoami", "access_denied")
	if c.Codes.Load() != 0 {
		t.Fatal("a code was exchanged after a denial")
	}
}

// A 403 insufficient_scope leads to one step-up sign-in for the union of
// the scopes, then the call succeeds.
func TestE2E_StepUp(t *testing.T) {
	inModes(t, func(t *testing.T, c *chain.Server, e *relayEnv) {
		s := e.start()
		if out := s.MustCall(t, "admin_stats", nil); !strings.Contains(out, "uptime_seconds") {
			t.Fatalf("admin_stats: %s", out)
		}
		e.wantOpens(t, 2, "step-up (login, then step-up)")
		if out := s.whoami(t); !strings.Contains(out, "admin") {
			t.Fatalf("scopes after the step-up: %s", out)
		}
	})
}

// relay login, status and logout: the resource is the backend's URL or
// the MCP URL (the authorization server discovered from it). A running
// relay uses the stored token, and after a logout signs in again on the
// next call.
func TestE2E_LogoutThenCallLogsInAgain(t *testing.T) {
	inModes(t, func(t *testing.T, c *chain.Server, e *relayEnv) {
		e.Says(t, 0, "login", "signed in as alice")
		e.Prints(t, 0, "status --json", `"logged_in": true`, e.resource)
		s := e.start()
		s.whoami(t) // no second sign-in
		e.wantOpens(t, 1, "the call after relay login")
		e.Says(t, 0, "logout", "revoked", "no credential of keyrelay remains")
		e.Prints(t, 1, "status --json", `"logged_in": false`)
		left, _ := os.ReadDir(e.Dir)
		for _, f := range left {
			if f.Name() != "vault.lock" {
				t.Fatalf("left after logout: %s", f.Name())
			}
		}
		// The running relay notices and signs in again on the next call.
		s.whoami(t)
		e.wantOpens(t, 2, "the call after relay logout")
	})
}

func TestE2E_ConcurrentExpiredCallsRefreshOnce(t *testing.T) {
	c, e := backendEnv(t)
	e.start().whoami(t)
	refreshStorm(t, c, e, 1, 20, 1)
}

func TestE2E_TwoRelaysOneLogin(t *testing.T) {
	c, e := backendEnv(t)
	a, b := e.start(), e.start()
	var wg sync.WaitGroup
	for _, s := range []*session{a, b, a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); s.whoami(t) }()
	}
	wg.Wait()
	if e.opens() != 1 || c.Codes.Load() != 1 {
		t.Fatalf("two relays: %d opens, %d code exchanges; want 1", e.opens(), c.Codes.Load())
	}
}

func TestE2E_StartsAndAnswersWithBadConfig(t *testing.T) {
	_, e := backendEnv(t)
	s := e.start("RELAY_AUTH_SERVER_URL=http://example.com")
	s.fails(t, "whoami", "https")
}

// TestC19_NoSecretInOutput runs a session at debug level through login,
// 401, refresh, step-up and logout, in both modes, and looks for every
// code, verifier and token that crossed the authorization server in the
// relay's stderr, in what the MCP client received and in the CLI's output.
func TestC19_NoSecretInOutput(t *testing.T) {
	inModes(t, func(t *testing.T, c *chain.Server, e *relayEnv) {
		s := e.start()
		var results strings.Builder // what the MCP client received: stdout
		results.WriteString(s.whoami(t))
		c.RevokeSeen()
		results.WriteString(s.whoami(t))
		results.WriteString(s.MustCall(t, "admin_stats", nil))
		e.expireStored()
		s2 := e.start()
		results.WriteString(s2.whoami(t))
		_, logoutErr, _ := e.Run(t, "logout")
		statusOut, statusErr, _ := e.Run(t, "status", "--json")
		outputs := s.Stderr.String() + s2.Stderr.String() + logoutErr + statusOut + statusErr + results.String()
		secrets := c.Secrets()
		if len(secrets) < 8 {
			t.Fatalf("only %d secrets recorded; the spy is broken", len(secrets))
		}
		for _, sec := range secrets {
			if strings.Contains(outputs, sec) {
				t.Fatalf("a code, verifier or token appears in the relay's output")
			}
		}
		if !strings.Contains(s.Stderr.String(), "level=DEBUG") && !strings.Contains(s.Stderr.String(), "level=INFO") {
			t.Fatal("no log output captured; the check proves nothing")
		}
	})
}

func TestE2E_InitializeAnswersWithoutNetwork(t *testing.T) {
	// The backend and authorization server do not exist: initialize and
	// server/discover must still answer at once.
	c := &chain.Server{URL: "http://127.0.0.1:1"}
	e := newRelayEnv(t, c)
	start := time.Now()
	s := e.start()
	if time.Since(start) > 10*time.Second {
		t.Fatal("initialize was slow")
	}
	if text := s.fails(t, "whoami"); text == "" {
		t.Fatal("a call with no backend failed without a text")
	}
}

// revokeAt revokes a token at the chain's authorization server.
func revokeAt(t *testing.T, base, token string) {
	t.Helper()
	resp, err := http.PostForm(base+"/revoke", url.Values{"token": {token}, "client_id": {"relay"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
}

// TestBothModesAnswerAlike: one front answers for both modes, so the same
// input gets the same answer from the relay in front of the backend's tool
// API and in front of a remote MCP server (mcp-go's, for what the server
// answers: an unknown method, an unknown tool). Both relays are signed in,
// so requests reach their upstream.
func TestBothModesAnswerAlike(t *testing.T) {
	cases := []struct {
		name, line string
		code       int // the JSON-RPC error code both must answer
	}{
		{"wrong jsonrpc version", `{"jsonrpc":"1.0","id":1,"method":"ping"}`, -32600},
		{"no jsonrpc member", `{"id":2,"method":"ping"}`, -32600},
		{"missing method", `{"jsonrpc":"2.0","id":3}`, -32600},
		{"unknown method", `{"jsonrpc":"2.0","id":4,"method":"no/such"}`, -32601},
		{"batch", `[{"jsonrpc":"2.0","id":5,"method":"ping"}]`, -32600},
		{"a JSON array", `[1,2,3]`, -32600},
		{"invalid JSON", `{"jsonrpc":"2.0","id":6,`, -32700},
		{"method not a string", `{"jsonrpc":"2.0","id":7,"method":7}`, -32600},
		{"params not an object", `{"jsonrpc":"2.0","id":8,"method":"tools/list","params":[1]}`, -32602},
		{"unknown tool", `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"no_such_tool","arguments":{}}}`, -32602},
		{"notification with an id", `{"jsonrpc":"2.0","id":10,"method":"notifications/initialized"}`, -32601},
		{"bad log level", `{"jsonrpc":"2.0","id":11,"method":"logging/setLevel","params":{"level":"loud"}}`, -32602},
		{"2026-07-28 request without capabilities", `{"jsonrpc":"2.0","id":12,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`, -32602},
		{"line over the limit", `{"jsonrpc":"2.0","id":13,"method":"ping","params":{"x":"` + strings.Repeat("x", front.MaxMessage) + `"}}`, -32600},
	}
	_, backend := backendEnv(t)
	_, _, remote := mcpEnv(t, "")
	answers := map[string][]string{}
	for mode, e := range map[string]*relayEnv{"backend": backend, "mcp-url": remote} {
		e.mustCLI(t, "login")
		p := e.Start(t, []string{"serve"})
		p.Send(t, fmt.Sprintf(initializeLine, 0))
		if m, ok := p.Next(t, 30*time.Second); !ok || m.Error != nil {
			t.Fatalf("%s: initialize: %+v\n%s", mode, m, p.Stderr.Tail())
		}
		for _, c := range cases {
			p.Send(t, c.line)
			m, ok := p.Next(t, 60*time.Second)
			if !ok || m.Error == nil || m.Error.Code != c.code {
				t.Fatalf("%s, %s: %s, want error %d\n%s", mode, c.name, m.Raw, c.code, p.Stderr.Tail())
			}
			answers[c.name] = append(answers[c.name], canonical(t, m.Raw))
		}
		// A last line without a newline is a message too.
		if _, err := io.WriteString(p.In, `{"jsonrpc":"2.0","id":"last","method":"ping"}`); err != nil {
			t.Fatal(err)
		}
		p.In.Close()
		m, ok := p.Next(t, 30*time.Second)
		if !ok || string(m.ID) != `"last"` || m.Error != nil {
			t.Fatalf("%s: last line without a newline: %+v", mode, m)
		}
		answers["last line"] = append(answers["last line"], canonical(t, m.Raw))
	}
	for name, got := range answers {
		if len(got) != 2 || got[0] != got[1] {
			t.Errorf("%s: the modes answer differently:\n%s", name, strings.Join(got, "\n"))
		}
	}
}

// canonical is a message re-encoded with sorted keys.
func canonical(t *testing.T, raw string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		t.Fatalf("not JSON: %q", raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
