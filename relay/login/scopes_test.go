package login

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/vault"
)

// mcpAS is a loopback MCP server (its protected resource metadata at
// /.well-known/oauth-protected-resource/mcp) and its authorization server
// in one, recording the paths asked and the token requests.
type mcpAS struct {
	srv       *httptest.Server
	supported []string // the resource's scopes_supported
	asScopes  []string // the authorization server's scopes_supported
	methods   []string // its token_endpoint_auth_methods_supported
	register  string   // the registration's answer

	mu     sync.Mutex
	paths  []string
	tokens []*http.Request // with Form parsed
}

func newMCPAS(t *testing.T) *mcpAS {
	m := &mcpAS{}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *mcpAS) serve(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	m.mu.Lock()
	m.paths = append(m.paths, r.URL.Path)
	if r.URL.Path == "/token" {
		m.tokens = append(m.tokens, r)
	}
	m.mu.Unlock()
	u := m.srv.URL
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/.well-known/oauth-protected-resource/mcp":
		_ = json.NewEncoder(w).Encode(map[string]any{"resource": u + "/mcp", "authorization_servers": []string{u}, "scopes_supported": m.supported})
	case "/.well-known/oauth-authorization-server":
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": u, "authorization_endpoint": u + "/authorize", "token_endpoint": u + "/token",
			"registration_endpoint": u + "/register", "code_challenge_methods_supported": []string{"S256"},
			"scopes_supported": m.asScopes, "token_endpoint_auth_methods_supported": m.methods})
	case "/register":
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, m.register)
	case "/token":
		_, _ = io.WriteString(w, `{"access_token":"fake-access-0123456789","token_type":"Bearer","expires_in":600}`)
	default:
		http.NotFound(w, r)
	}
}

func (m *mcpAS) asked(path string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, p := range m.paths {
		if p == path {
			n++
		}
	}
	return n
}

const scopesPRMPath = "/.well-known/oauth-protected-resource/mcp"

// TestDefaultScopesFromResourceMetadata: for an MCP server
// (ResourceScopes), a sign-in that nothing else gives scopes asks for the
// protected resource metadata's scopes_supported, the scope-tokens among
// them: from the discovery that found the issuer, or read once when the
// issuer is configured. For the backend's tool API, none.
func TestDefaultScopesFromResourceMetadata(t *testing.T) {
	m := newMCPAS(t)
	m.supported = []string{"mcp:basic", "mcp:read", "bad scope\"", "mcp:basic"}
	want := []string{"mcp:basic", "mcp:read"}

	discovered := &Interactive{Backend: m.srv.URL + "/mcp", ResourceScopes: true}
	_, err := discovered.Account(context.Background())
	testkit.NoErr(t, err, "discovery")
	if got := discovered.DefaultScopes(context.Background()); !slices.Equal(got, want) || m.asked(scopesPRMPath) != 1 {
		t.Fatalf("after discovery: %v, metadata read %d times", got, m.asked(scopesPRMPath))
	}

	configured := &Interactive{Issuer: m.srv.URL, Backend: m.srv.URL + "/mcp", ResourceScopes: true}
	for range 2 {
		if got := configured.DefaultScopes(context.Background()); !slices.Equal(got, want) {
			t.Fatalf("configured issuer: %v", got)
		}
	}
	if m.asked(scopesPRMPath) != 2 {
		t.Fatalf("metadata read %d times in all, want once more for the configured issuer", m.asked(scopesPRMPath))
	}

	backend := &Interactive{Issuer: m.srv.URL, Backend: m.srv.URL + "/mcp"}
	if got := backend.DefaultScopes(context.Background()); got != nil || m.asked(scopesPRMPath) != 2 {
		t.Fatalf("backend mode: %v", got)
	}
}

// TestOffline: offline_access is offered when the authorization server
// lists it, and only then.
func TestOffline(t *testing.T) {
	m := newMCPAS(t)
	i := &Interactive{Issuer: m.srv.URL, Backend: m.srv.URL + "/mcp"}
	if i.Offline(context.Background()) {
		t.Fatal("offline_access offered though the server does not list it")
	}
	m.asScopes = []string{"mcp:basic", "offline_access"}
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
	m := newMCPAS(t)
	m.methods = []string{oauth.AuthBasic, oauth.AuthPost}
	m.register = `{"client_id":"dyn-1","client_secret":"dyn-secret-0123456789","token_endpoint_auth_method":"client_secret_post"}`
	dir := t.TempDir()
	kc := vault.NewMemKeychain()
	for run := range 2 {
		v, err := vault.Open(context.Background(), vault.Options{Dir: dir, Keychain: kc})
		testkit.NoErr(t, err)
		i := &Interactive{Issuer: m.srv.URL, Backend: m.srv.URL + "/mcp", Registry: v}
		testkit.NoErr(t, i.Prepare(context.Background()), "Prepare")
		_, err = i.Refresh(context.Background(), secret.New("fake-refresh-0123456789"))
		testkit.NoErr(t, err, "Refresh")
		m.mu.Lock()
		r := m.tokens[len(m.tokens)-1]
		m.mu.Unlock()
		if r.PostForm.Get("client_secret") != "dyn-secret-0123456789" || r.PostForm.Get("client_id") != "dyn-1" || r.Header.Get("Authorization") != "" {
			t.Fatalf("run %d: the secret did not go as client_secret_post (form %v, Authorization %t)", run+1,
				slices.Sorted(maps.Keys(r.PostForm)), r.Header.Get("Authorization") != "")
		}
	}
	if n := m.asked("/register"); n != 1 {
		t.Fatalf("%d registrations, want 1 (the second run reads it from the vault)", n)
	}
}
