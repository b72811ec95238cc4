package main

import (
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/backend/authserver"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/chain"
)

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
	_, stderr, code := e.Run(t, "login", "--callback-path", "/oauth/callback")
	if code != 0 || !strings.Contains(stderr, "signed in as alice") || !strings.Contains(stderr, "redirect_uri="+url.QueryEscape(redirect)) {
		t.Fatalf("login: %d %s", code, stderr)
	}
	if _, stderr, code := e.Run(t, "login", "--force", "--callback-host", "0.0.0.0"); code != exitUsage || !strings.Contains(stderr, "RELAY_CALLBACK_HOST") {
		t.Fatalf("a non-loopback callback host: %d %s", code, stderr)
	}
}
