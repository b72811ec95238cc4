package login

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/backend/authserver"
	"github.com/keyrelay/keyrelay/internal/fakebrowser"
	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/vault"
)

// TestClientIDOrder checks the registration order of the MCP
// authorization spec: a static client id, then a Client ID Metadata
// Document when the server supports them, then dynamic registration, then
// the built-in server's "relay".
func TestClientIDOrder(t *testing.T) {
	const doc = "https://keyrelay.example/client.json"
	reg := &vault.Vault{} // only its presence matters here
	cases := []struct {
		name   string
		i      *Interactive
		md     oauth.Metadata
		want   string
		wantEr error
	}{
		{"static wins", &Interactive{Client: oauth.Client{ClientID: "static"}, ClientMetadataURL: doc, Registry: reg},
			oauth.Metadata{ClientIDMetadataDocumentSupported: true, RegistrationEndpoint: "https://as/register"}, "static", nil},
		{"metadata document", &Interactive{ClientMetadataURL: doc, Registry: reg},
			oauth.Metadata{ClientIDMetadataDocumentSupported: true, RegistrationEndpoint: "https://as/register"}, doc, nil},
		{"document unsupported: registration", &Interactive{ClientMetadataURL: doc, Registry: reg, regID: "dyn-1"},
			oauth.Metadata{RegistrationEndpoint: "https://as/register"}, "dyn-1", nil},
		{"registration not loaded yet", &Interactive{Registry: reg},
			oauth.Metadata{RegistrationEndpoint: "https://as/register"}, "", broker.ErrReprepare},
		{"nothing offered", &Interactive{Registry: reg}, oauth.Metadata{}, FallbackClientID, nil},
	}
	for _, c := range cases {
		got, err := c.i.clientID(&c.md)
		if got != c.want || !errors.Is(err, c.wantEr) || (c.wantEr == nil && err != nil) {
			t.Errorf("%s: got %q %v, want %q %v", c.name, got, err, c.want, c.wantEr)
		}
	}
}

func TestAccountClientIDKnownWithoutNetwork(t *testing.T) {
	if id := (&Interactive{Client: oauth.Client{ClientID: "x"}}).AccountClientID(); id != "x" {
		t.Fatal(id)
	}
	if id := (&Interactive{ClientMetadataURL: "https://d"}).AccountClientID(); id != "https://d" {
		t.Fatal(id)
	}
	if id := (&Interactive{}).AccountClientID(); id != "" {
		t.Fatalf("dynamic registration keys the account with an empty client id, got %q", id)
	}
}

func TestStaleRegistrationOnlyOnce(t *testing.T) {
	i := &Interactive{Registry: &vault.Vault{}, regID: "dyn-1"}
	err := &oauth.Error{Code: "invalid_client"}
	if !i.staleRegistration(err) || i.regID != "" || i.staleID != "dyn-1" {
		t.Fatal("a stored registration refused with invalid_client was not marked stale")
	}
	i.regID = "dyn-2" // registered anew
	if i.staleRegistration(err) {
		t.Fatal("a replacement registration was marked stale again: that would loop")
	}
	// With a metadata document URL configured but unsupported by the
	// server, a dynamic registration is in use and must still be caught.
	j := &Interactive{Registry: &vault.Vault{}, regID: "dyn-3", ClientMetadataURL: "https://d/client.json"}
	if !j.staleRegistration(err) {
		t.Fatal("a stale registration went unnoticed with RELAY_CLIENT_METADATA_URL set")
	}
	if (&Interactive{Registry: &vault.Vault{}, regID: "dyn-1"}).staleRegistration(&oauth.Error{Code: "invalid_grant"}) {
		t.Fatal("invalid_grant is not a stale registration")
	}
}

// TestClientSecretKeptInTheVault: RELAY_CLIENT_SECRET given once is stored
// in the (encrypted) vault, and a later run without it reads it from there.
func TestClientSecretKeptInTheVault(t *testing.T) {
	dir := t.TempDir()
	open := func() *vault.Vault { return vaultAt(t, dir, kc) }
	first := &Interactive{Client: oauth.Client{ClientID: "conf"}, ClientSecret: secret.New("conf-secret-0123456789"), Registry: open()}
	testkit.WantIs(t, testkit.ErrOf(first.clientSecret()), broker.ErrReprepare, "secret used before it was loaded")
	testkit.NoErr(t, first.loadSecret(context.Background(), "https://as.example"))
	later := &Interactive{Client: oauth.Client{ClientID: "conf"}, Registry: open()}
	testkit.NoErr(t, later.loadSecret(context.Background(), "https://as.example"))
	if got, err := later.clientSecret(); err != nil || got.Reveal() != "conf-secret-0123456789" {
		t.Fatalf("secret not read back from the vault: %v", err)
	}
	other := &Interactive{Client: oauth.Client{ClientID: "other"}, Registry: open()}
	_ = other.loadSecret(context.Background(), "https://as.example")
	if got, _ := other.clientSecret(); !got.IsZero() {
		t.Fatal("another client id got this client's secret")
	}
}

var kc = vault.NewMemKeychain()

// accounts is a Registry that lists the accounts it was given.
type accounts []vault.Account

func (a accounts) Get(context.Context, vault.Account) (vault.Record, error) {
	return vault.Record{}, vault.ErrNotFound
}
func (a accounts) Update(context.Context, vault.Account, func(*vault.Record) (*vault.Record, error)) error {
	return nil
}
func (a accounts) Accounts(context.Context) ([]vault.Account, error) { return a, nil }

// P1: two servers behind one issuer and client never share a vault
// account, whatever RELAY_RESOURCE says, and a stored issuer is reused only
// by the server that stored it.
func TestP1_AccountPerServer(t *testing.T) {
	const iss = "https://as.example"
	a, b := "https://a.example/mcp", "https://b.example/mcp"
	for _, c := range []struct {
		name, resA, resB string
		wantA, wantB     string // the accounts' Server
	}{
		{"default: the resource is the server", a, b, "", ""},
		{"off: no resource", "", "", a, b},
		{"one explicit resource for both", "https://api.example", "https://api.example", a, b},
	} {
		t.Run(c.name, func(t *testing.T) {
			ia := &Interactive{Issuer: iss, Backend: a, Client: oauth.Client{ClientID: "relay", Resource: c.resA}}
			ib := &Interactive{Issuer: iss, Backend: b, Client: oauth.Client{ClientID: "relay", Resource: c.resB}}
			accA, err := ia.Account(context.Background())
			testkit.NoErr(t, err)
			accB, _ := ib.Account(context.Background())
			if accA == accB || accA.Server != c.wantA || accB.Server != c.wantB {
				t.Fatalf("accounts %+v and %+v", accA, accB)
			}
			// Only A has signed in: B finds no issuer of A's in the vault.
			ib.Issuer, ib.Registry = "", accounts{accA}
			if got, _ := ib.storedIssuer(context.Background()); got != "" {
				t.Fatalf("B reuses A's stored issuer %q", got)
			}
			ia.Issuer, ia.Registry = "", accounts{accA}
			if got, _ := ia.storedIssuer(context.Background()); got != iss {
				t.Fatalf("A does not find its own issuer: %q", got)
			}
		})
	}
}

// TestRegistrationRefusedNamesTheWayOut: when the authorization server
// refuses the dynamic registration (here as the built-in server does when
// every registration it has room for is in use), the relay says that
// the server refused it and names RELAY_CLIENT_ID as the way out, in the
// error and in the text the person sees (issue 14, F2: it said only
// "dynamic client registration: oauth: authorization server returned
// temporarily_unavailable: too many registered clients").
func TestRegistrationRefusedNamesTheWayOut(t *testing.T) {
	user, err := authserver.NewUser("alice", "fake-password-for-tests")
	testkit.NoErr(t, err)
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	as, err := authserver.New(authserver.Config{Issuer: issuer, Users: []authserver.User{user}})
	testkit.NoErr(t, err)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/register" {
			as.Handler().ServeHTTP(w, r)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"error":"temporarily_unavailable","error_description":"too many registered clients"}`)
	})
	srv.Start()
	defer srv.Close()
	err = (&Interactive{Issuer: issuer, Registry: memVault(t)}).Prepare(context.Background())
	if err == nil {
		t.Fatal("a refused registration was not an error")
	}
	shown := err.Error()
	var texter interface{ UserText() string }
	if errors.As(err, &texter) {
		shown = texter.UserText()
	}
	for name, text := range map[string]string{"error": err.Error(), "text shown": shown} {
		testkit.Contains(t, name, text, "refused to register", "too many registered clients", "RELAY_CLIENT_ID", `"relay"`)
	}
}

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
