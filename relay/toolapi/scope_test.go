package toolapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/authhttp"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/vault"
)

// mintingAuth is a broker.Auth whose sign-ins mint backend tokens for the
// scopes asked, or for the authorization server's defaults (notes:read
// notes:write, as the built-in server grants a registered client) when
// none is asked; it records what each sign-in asked for.
type mintingAuth struct {
	mint  func(scope string) secret.Value
	mu    sync.Mutex
	asked []string
}

func (a *mintingAuth) Login(_ context.Context, scopes []string, _ broker.UI) (*oauth.Tokens, error) {
	a.mu.Lock()
	a.asked = append(a.asked, strings.Join(scopes, " "))
	a.mu.Unlock()
	if len(scopes) == 0 {
		scopes = []string{"notes:read", "notes:write"}
	}
	return &oauth.Tokens{AccessToken: a.mint(strings.Join(scopes, " ")), TokenType: "Bearer", Scopes: scopes,
		Expiry: time.Now().Add(time.Minute)}, nil
}

func (a *mintingAuth) Refresh(context.Context, secret.Value) (*oauth.Tokens, error) {
	return nil, oauth.ErrInvalidGrant
}

// backendMode is the backend's tool API client over the auth layer and a
// real broker on a real vault, as serve wires them.
func backendMode(t *testing.T, url string, a *mintingAuth) *Client {
	v, err := vault.Open(context.Background(), vault.Options{Dir: filepath.Join(t.TempDir(), "data"), Keychain: vault.NewMemKeychain()})
	testkit.NoErr(t, err)
	b := &broker.Broker{Account: vault.Account{Issuer: "http://issuer.test", ClientID: "relay", Resource: url}, Store: v, Auth: a}
	return NewClient(url, 5*time.Second, &authhttp.Transport{Base: BaseTransport(5 * time.Second), Tokens: b,
		Resolved: func() bool { return true }, Peer: "backend"})
}

// TestBackendChallengeScope: in backend mode a sign-in asks for the scope
// of the backend's 401, as for an MCP server. The project's backend names
// none: the first sign-in asks for nothing, so the authorization server
// grants its defaults (not admin), and admin comes by one step-up.
func TestBackendChallengeScope(t *testing.T) {
	srv, mint := realBackend(t)
	a := &mintingAuth{mint: mint}
	c := backendMode(t, srv.URL, a)
	ctx := context.Background()
	if _, err := c.CallTool(ctx, "whoami", nil, true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CallTool(ctx, "admin_stats", nil, true); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(a.asked, "; "); got != "; notes:read notes:write admin" {
		t.Fatalf("the sign-ins asked for %q, want nothing, then the step-up", got)
	}

	// A backend whose 401 names the scope.
	scoped := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `Bearer scope="notes:read", resource_metadata="`+srv.URL+`/.well-known/oauth-protected-resource"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		srv.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(scoped.Close)
	a = &mintingAuth{mint: mint}
	c = backendMode(t, scoped.URL, a)
	if _, err := c.CallTool(ctx, "read_notes", nil, true); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(a.asked, "; "); got != "notes:read" {
		t.Fatalf("the sign-in asked for %q, want the 401's notes:read", got)
	}
}
