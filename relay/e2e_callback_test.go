package main

import (
	"net"
	"net/url"
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
	e.Says(t, 0, "login --callback-path /oauth/callback", "signed in as alice", "redirect_uri="+url.QueryEscape(redirect))
	e.Says(t, exitUsage, "login --force --callback-host 0.0.0.0", "RELAY_CALLBACK_HOST")
}
