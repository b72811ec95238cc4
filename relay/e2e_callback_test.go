package main

import (
	"net"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/backend/authserver"
)

// TestCLI_LoginCustomCallback: `relay login` with RELAY_CALLBACK_HOST,
// RELAY_CALLBACK_PATH and RELAY_CALLBACK_PORT signs in with a client
// registered ahead of time for mcp-remote's redirect URI
// http://localhost:PORT/oauth/callback, which the server matches exactly.
func TestCLI_LoginCustomCallback(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	redirect := "http://localhost:" + port + "/oauth/callback"
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	u, err := authserver.NewUser(testUser, testPass)
	if err != nil {
		t.Fatal(err)
	}
	as, err := authserver.New(authserver.Config{Issuer: base, Resources: []string{base}, Users: []authserver.User{u},
		Clients: []authserver.Client{{ID: "from-mcp-remote", RedirectURIs: []string{redirect}, Scopes: []string{"notes:read"}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = as.Handler()
	srv.Start()
	defer srv.Close()

	e := newRelayEnv(t, &chain{url: base})
	e.vars["RELAY_CLIENT_ID"] = "from-mcp-remote"
	e.vars["RELAY_SCOPES"] = "notes:read"
	e.vars["RELAY_CALLBACK_PORT"] = port
	e.vars["RELAY_CALLBACK_HOST"] = "localhost"
	e.vars["RELAY_LOGIN_TIMEOUT"] = "20s" // fail fast when the server refuses the redirect URI
	_, stderr, code := e.runCLI("login", "--callback-path", "/oauth/callback")
	if code != 0 || !strings.Contains(stderr, "signed in as alice") || !strings.Contains(stderr, "redirect_uri="+url.QueryEscape(redirect)) {
		t.Fatalf("login: %d %s", code, stderr)
	}
	if _, stderr, code := e.runCLI("login", "--force", "--callback-host", "0.0.0.0"); code != exitUsage || !strings.Contains(stderr, "RELAY_CALLBACK_HOST") {
		t.Fatalf("a non-loopback callback host: %d %s", code, stderr)
	}
}
