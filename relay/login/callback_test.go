package login

import (
	"context"
	"net"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/backend/authserver"
	"github.com/keyrelay/keyrelay/internal/fakebrowser"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/oauth"
)

// TestRedirectURIsFollowCallbackSettings: dynamic registration asks for the
// redirect URI that RELAY_CALLBACK_HOST, _PATH and _PORT make.
func TestRedirectURIsFollowCallbackSettings(t *testing.T) {
	for _, c := range []struct {
		i    *Interactive
		want string
	}{
		{&Interactive{}, oauth.DefaultRedirectURI},
		{&Interactive{Port: 3334}, "http://127.0.0.1:3334/callback"},
		{&Interactive{CallbackPath: "/oauth/callback"}, "http://127.0.0.1/oauth/callback"},
		{&Interactive{Port: 3334, CallbackHost: "localhost", CallbackPath: "/oauth/callback"}, "http://localhost:3334/oauth/callback"},
	} {
		if got := c.i.redirectURIs(); len(got) != 1 || got[0] != c.want {
			t.Errorf("port %d host %q path %q: %v, want %s", c.i.Port, c.i.CallbackHost, c.i.CallbackPath, got, c.want)
		}
	}
}

// TestLoginThroughCustomCallback: a sign-in through Interactive.Login with
// the client mcp-remote users have registered ahead of time, whose redirect
// URI is http://localhost:PORT/oauth/callback. The built-in server matches
// it exactly, so the login succeeds only if the settings reach the
// authorization request, the listener and the token request.
func TestLoginThroughCustomCallback(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	testkit.NoErr(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	const resource = "https://backend.example/mcp"
	user, err := authserver.NewUser("alice", "fake-password-for-tests")
	testkit.NoErr(t, err)
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	as, err := authserver.New(authserver.Config{Issuer: issuer, Resources: []string{resource}, Users: []authserver.User{user},
		Clients: []authserver.Client{{ID: "preregistered", RedirectURIs: []string{"http://localhost:" + strconv.Itoa(port) + "/oauth/callback"},
			Scopes: []string{"notes:read"}, DefaultScopes: []string{"notes:read"}}}})
	testkit.NoErr(t, err)
	srv.Config.Handler = as.Handler()
	srv.Start()
	defer srv.Close()

	browsed := make(chan *fakebrowser.Result, 1)
	i := &Interactive{Issuer: issuer, Client: oauth.Client{ClientID: "preregistered", Resource: resource},
		Port: port, CallbackHost: "localhost", CallbackPath: "/oauth/callback", Timeout: 20 * time.Second,
		Open: func(ctx context.Context, u string) error {
			res, err := fakebrowser.Login(ctx, u, fakebrowser.Options{User: "alice", Password: "fake-password-for-tests"})
			if err != nil {
				t.Errorf("browser: %v", err)
			}
			browsed <- res
			return err
		}}
	tok, err := i.Login(context.Background(), []string{"notes:read"}, nil)
	testkit.NoErr(t, err, "Login")
	res := <-browsed // Login may return before the browser has read the page
	if res == nil {
		t.Fatal("the browser did not finish")
	}
	if tok.AccessToken.IsZero() || res.CallbackStatus != 200 ||
		res.Redirect.Host != "localhost:"+strconv.Itoa(port) || res.Redirect.Path != "/oauth/callback" {
		t.Fatalf("the browser was sent to %v, callback status %v", res.Redirect.Redacted(), res.CallbackStatus)
	}
}
