package login

import (
	"context"
	"io"
	"maps"
	"net/http"
	"slices"
	"testing"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/vault"
)

// scopesServer is an MCP server at /mcp whose protected resource
// metadata lists supported as its scopes_supported, and its authorization
// server, with a registration endpoint.
func scopesServer(t *testing.T, supported ...string) *mcpServer {
	m := newMCPServer(t)
	m.docs[prmPath] = map[string]any{"resource": "O/mcp", "authorization_servers": []string{"O"}, "scopes_supported": supported}
	m.docs[asRoot] = asMetadata(nil, nil)
	return m
}

// asMetadata is asDoc with a registration endpoint, and scopes and
// token_endpoint_auth_methods_supported.
func asMetadata(scopes, methods []string) map[string]any {
	return map[string]any{"issuer": "O", "authorization_endpoint": "O/authorize", "token_endpoint": "O/token",
		"registration_endpoint": "O/register", "code_challenge_methods_supported": []string{"S256"},
		"scopes_supported": scopes, "token_endpoint_auth_methods_supported": methods}
}

// TestDefaultScopesFromResourceMetadata: for an MCP server
// (ResourceScopes), a sign-in that nothing else gives scopes asks for the
// protected resource metadata's scopes_supported, the scope-tokens among
// them: from the discovery that found the issuer, or read once when the
// issuer is configured. For the backend's tool API, none.
func TestDefaultScopesFromResourceMetadata(t *testing.T) {
	m := scopesServer(t, "mcp:basic", "mcp:read", "bad scope\"", "mcp:basic")
	want := []string{"mcp:basic", "mcp:read"}

	discovered := &Interactive{Backend: m.srv.URL + "/mcp", ResourceScopes: true}
	_, err := discovered.Account(context.Background())
	testkit.NoErr(t, err, "discovery")
	if got := discovered.DefaultScopes(context.Background()); !slices.Equal(got, want) || m.asked(prmPath) != 1 {
		t.Fatalf("after discovery: %v, metadata read %d times", got, m.asked(prmPath))
	}

	configured := &Interactive{Issuer: m.srv.URL, Backend: m.srv.URL + "/mcp", ResourceScopes: true}
	for range 2 {
		if got := configured.DefaultScopes(context.Background()); !slices.Equal(got, want) {
			t.Fatalf("configured issuer: %v", got)
		}
	}
	if m.asked(prmPath) != 2 {
		t.Fatalf("metadata read %d times in all, want once more for the configured issuer", m.asked(prmPath))
	}

	backend := &Interactive{Issuer: m.srv.URL, Backend: m.srv.URL + "/mcp"}
	if got := backend.DefaultScopes(context.Background()); got != nil || m.asked(prmPath) != 2 {
		t.Fatalf("backend mode: %v", got)
	}
}

// TestOffline: offline_access is offered when the authorization server
// lists it, and only then.
func TestOffline(t *testing.T) {
	m := scopesServer(t)
	i := &Interactive{Issuer: m.srv.URL, Backend: m.srv.URL + "/mcp"}
	if i.Offline(context.Background()) {
		t.Fatal("offline_access offered though the server does not list it")
	}
	m.docs[asRoot] = asMetadata([]string{"mcp:basic", "offline_access"}, nil)
	i = &Interactive{Issuer: m.srv.URL, Backend: m.srv.URL + "/mcp"}
	if !i.Offline(context.Background()) {
		t.Fatal("offline_access not offered though the server lists it")
	}
}

// TestRegistrationAuthMethodKept: the token_endpoint_auth_method of a
// dynamic registration decides how its secret is sent, also in a later
// run that reads the registration from the vault, where the metadata
// alone would choose otherwise (client_secret_basic, listed first).
func TestRegistrationAuthMethodKept(t *testing.T) {
	m := scopesServer(t)
	m.docs[asRoot] = asMetadata(nil, []string{oauth.AuthBasic, oauth.AuthPost})
	m.docs["/register"] = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"client_id":"dyn-1","client_secret":"dyn-secret-0123456789","token_endpoint_auth_method":"client_secret_post"}`)
	})
	dir := t.TempDir()
	kc := vault.NewMemKeychain()
	for run := range 2 {
		i := &Interactive{Issuer: m.srv.URL, Backend: m.srv.URL + "/mcp", Registry: vaultAt(t, dir, kc)}
		testkit.NoErr(t, i.Prepare(context.Background()), "Prepare")
		_, err := i.Refresh(context.Background(), secret.New("fake-refresh-0123456789"))
		testkit.NoErr(t, err, "Refresh")
		m.mu.Lock()
		form, auth := m.form[len(m.form)-1], m.auth[len(m.auth)-1]
		m.mu.Unlock()
		if form.Get("client_secret") != "dyn-secret-0123456789" || form.Get("client_id") != "dyn-1" || auth != "" {
			t.Fatalf("run %d: the secret did not go as client_secret_post (form %v, Authorization %t)", run+1,
				slices.Sorted(maps.Keys(form)), auth != "")
		}
	}
	if n := m.asked("/register"); n != 1 {
		t.Fatalf("%d registrations, want 1 (the second run reads it from the vault)", n)
	}
}
