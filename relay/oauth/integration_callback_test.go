package oauth_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/backend/authserver"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/oauth"
)

// freePort returns a port free on 127.0.0.1 (and, where it exists, [::1])
// a moment ago, for a redirect URI registered before the login starts.
func freePort(t *testing.T) int {
	t.Helper()
	for range 10 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		testkit.NoErr(t, err)
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		ln6, err := net.Listen("tcp6", "[::1]:"+strconv.Itoa(port))
		if err == nil {
			ln6.Close()
			return port
		}
		probe, err := net.Listen("tcp6", "[::1]:0")
		if err != nil {
			return port // no IPv6 loopback
		}
		probe.Close()
	}
	t.Fatal("no port free on both loopback addresses")
	return 0
}

// TestIntegrationCustomCallback: a full login through the real
// authorization server's pages with RELAY_CALLBACK_HOST=localhost and
// RELAY_CALLBACK_PATH=/oauth/callback, for a client registered ahead of
// time with exactly that redirect URI (mcp-remote's default), and with a
// custom path on 127.0.0.1 for a dynamically registered client. The server
// matches a localhost redirect URI exactly, so a wrong host, port or path
// anywhere fails the login. Control: a client registered with the portless
// DefaultRedirectURI logs in through the loopback callback on a random
// port, because the server matches loopback redirects on any port.
func TestIntegrationCustomCallback(t *testing.T) {
	ctx := context.Background()
	t.Run("localhost, pre-registered", func(t *testing.T) {
		port := freePort(t)
		redirect := "http://localhost:" + strconv.Itoa(port) + "/oauth/callback"
		md := startStack(t, "", []authserver.Client{{
			ID: "preregistered", Name: "from mcp-remote", RedirectURIs: []string{redirect},
			Scopes: []string{"notes:read"}, DefaultScopes: []string{"notes:read"},
		}}).metadata(t)
		c := &oauth.Client{ClientID: "preregistered", Scopes: []string{"notes:read"}, Resource: itResource, Metadata: md}
		cb := oauth.Callback{Port: port, Host: "localhost", Path: "/oauth/callback"}
		if cb.RedirectURI() != redirect {
			t.Fatalf("RedirectURI %q, want %q", cb.RedirectURI(), redirect)
		}
		page, body, w := runLoginAt(t, c, cb, "allow")
		if w.err != nil {
			t.Fatalf("Wait: %v", w.err)
		}
		if page.StatusCode != 200 || page.Request.URL.Host != "localhost:"+strconv.Itoa(port) ||
			page.Request.URL.Path != "/oauth/callback" || !strings.Contains(body, "Signed in") {
			t.Fatalf("browser ended on %s with status %d", page.Request.URL.Redacted(), page.StatusCode)
		}
		if cl := testkit.PeekJWT(t, w.tok.AccessToken.Reveal(), 1); cl["client_id"] != "preregistered" || cl["aud"] != itResource {
			t.Fatalf("claims client_id=%v aud=%v", cl["client_id"], cl["aud"])
		}
		// Control: the same client with the default callback is refused by
		// the server, so the settings above are what made it work.
		l, err := c.StartLogin(ctx, oauth.Callback{Port: port})
		testkit.NoErr(t, err)
		defer l.Close()
		if resp, _ := newBrowser(t).get(l.URL()); resp.StatusCode != 400 || resp.Request.URL.Path != "/authorize" {
			t.Fatalf("the unregistered default redirect URI was not refused: status %d at %s", resp.StatusCode, resp.Request.URL.Path)
		}
	})
	for name, path := range map[string]string{"127.0.0.1, custom path, registered": "/oauth/callback", "127.0.0.1, default path, registered": ""} {
		t.Run(name, func(t *testing.T) {
			md := startStack(t, "", nil).metadata(t)
			cb := oauth.Callback{Path: path}
			reg, err := oauth.Register(ctx, nil, md, oauth.RegistrationRequest{ClientName: "keyrelay test", RedirectURIs: []string{cb.RedirectURI()}})
			testkit.NoErr(t, err)
			c := &oauth.Client{ClientID: reg.ClientID, Scopes: []string{"notes:read"}, Resource: itResource, Metadata: md}
			page, _, w := runLoginAt(t, c, cb, "allow")
			if w.err != nil {
				t.Fatalf("Wait: %v", w.err)
			}
			if page.StatusCode != 200 || page.Request.URL.Hostname() != "127.0.0.1" || "http://127.0.0.1"+page.Request.URL.Path != cb.RedirectURI() {
				t.Fatalf("browser ended on %s with status %d", page.Request.URL.Path, page.StatusCode)
			}
			if cl := testkit.PeekJWT(t, w.tok.AccessToken.Reveal(), 1); cl["client_id"] != reg.ClientID || cl["aud"] != itResource {
				t.Fatalf("claims client_id=%v aud=%v", cl["client_id"], cl["aud"])
			}
		})
	}
}
