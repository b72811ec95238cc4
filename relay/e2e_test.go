package main

import (
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit/chain"
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
		if e.opens() != 2 {
			t.Fatalf("step-up: %d opens, want 2 (login, then step-up)", e.opens())
		}
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
		if e.opens() != 1 {
			t.Fatalf("%d opens, want 1", e.opens())
		}
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
		if e.opens() != 2 {
			t.Fatalf("%d opens, want 2", e.opens())
		}
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
