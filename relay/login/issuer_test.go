package login

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/relay/policy"
)

// mcpServer is an MCP server and its authorization server on one origin,
// serving the documents in docs (O in a value stands for its URL) and a
// token endpoint at every path ending in /token, recording what it got.
type mcpServer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	docs map[string]any // path: a JSON document, or an http.HandlerFunc
	seen []string       // the paths asked
	form []url.Values   // the token requests' forms
	auth []string       // and their Authorization headers
}

func newMCPServer(t *testing.T) *mcpServer {
	m := &mcpServer{docs: map[string]any{}}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.seen = append(m.seen, r.URL.Path)
		doc := m.docs[r.URL.Path]
		m.mu.Unlock()
		switch h := doc.(type) {
		case http.HandlerFunc:
			h(w, r)
		case nil:
			if strings.HasSuffix(r.URL.Path, "/token") && r.Method == http.MethodPost {
				_ = r.ParseForm()
				m.mu.Lock()
				m.form = append(m.form, r.PostForm)
				m.auth = append(m.auth, r.Header.Get("Authorization"))
				m.mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"access_token":"at-new","token_type":"Bearer","expires_in":60}`))
				return
			}
			http.NotFound(w, r)
		default:
			b, _ := json.Marshal(doc)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(strings.ReplaceAll(string(b), "O", m.srv.URL)))
		}
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *mcpServer) paths() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.seen...)
}

func (m *mcpServer) asked(path string) int {
	n := 0
	for _, p := range m.paths() {
		if p == path {
			n++
		}
	}
	return n
}

// refresh runs a refresh through i and returns the form the server got.
func (m *mcpServer) refresh(t *testing.T, i *Interactive) url.Values {
	t.Helper()
	_, err := i.Refresh(context.Background(), secret.New("rt-0123456789"))
	testkit.NoErr(t, err, "Refresh")
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.form) == 0 {
		t.Fatal("no token request")
	}
	return m.form[len(m.form)-1]
}

// interactive is a relay for the MCP server at m's /mcp, with the
// default resource (the server's URL) unless resource is given.
func (m *mcpServer) interactive(resource ...string) *Interactive {
	backend := m.srv.URL + "/mcp"
	r := backend
	if len(resource) > 0 {
		r = resource[0]
	}
	return &Interactive{Backend: backend, Client: oauth.Client{ClientID: "relay", Resource: r, HTTP: m.srv.Client()}}
}

const (
	prmRoot = "/.well-known/oauth-protected-resource"
	prmPath = prmRoot + "/mcp"
	asRoot  = "/.well-known/oauth-authorization-server"
	oidc    = "/.well-known/openid-configuration"
)

// deviceServer is an authorization server with a device authorization
// endpoint whose verification_uri is page (O: the server's URL), and
// whose token endpoint answers authorization_pending.
func deviceServer(t *testing.T, page string) *mcpServer {
	m := newMCPServer(t)
	m.docs[asRoot] = map[string]any{"issuer": "O", "authorization_endpoint": "O/authorize", "token_endpoint": "O/token",
		"device_authorization_endpoint": "O/device", "code_challenge_methods_supported": []string{"S256"}}
	m.docs["/device"] = map[string]any{"device_code": "dc-fake-0123456789", "user_code": "ABCD-EFGH",
		"verification_uri": page, "expires_in": 600, "interval": 1}
	m.docs["/token"] = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"authorization_pending"}`))
	})
	return m
}

var (
	asDoc = map[string]any{"issuer": "O", "authorization_endpoint": "O/authorize", "token_endpoint": "O/token",
		"code_challenge_methods_supported": []string{"S256"}}
	// oauthDoc is the metadata of an issuer under /oauth, at the origin.
	oauthDoc = map[string]any{"issuer": "O/oauth", "authorization_endpoint": "O/oauth/authorize", "token_endpoint": "O/oauth/token",
		"code_challenge_methods_supported": []string{"S256"}}
)

// rootServer serves protected resource metadata at the root only, naming
// resource, and asDoc.
func rootServer(t *testing.T, resource string) *mcpServer {
	m := newMCPServer(t)
	m.docs[prmRoot] = map[string]any{"resource": resource, "authorization_servers": []string{"O"}}
	m.docs[asRoot] = asDoc
	return m
}

// auth/metadata-var2 of the MCP conformance suite: the protected resource
// metadata only at the root, naming the origin. The relay accepts it (RFC
// 9728 §3.3) and sends the origin as its resource, unless RELAY_RESOURCE
// names one; its vault account is still its own server's.
func TestResourceFromRootMetadata(t *testing.T) {
	t.Run("default resource: the origin is sent", func(t *testing.T) {
		m := rootServer(t, "O")
		i := m.interactive()
		acct, err := i.Account(context.Background())
		testkit.NoErr(t, err)
		if acct.Issuer != m.srv.URL || acct.Resource != m.srv.URL || acct.Server != i.Backend {
			t.Fatalf("account %+v", acct)
		}
		if f := m.refresh(t, i); f.Get("resource") != m.srv.URL {
			t.Fatalf("the token endpoint got resource %q, want the origin", f.Get("resource"))
		}
	})
	t.Run("RELAY_RESOURCE overrides", func(t *testing.T) {
		m := rootServer(t, "O")
		i := m.interactive("https://api.example")
		acct, err := i.Account(context.Background())
		if err != nil || acct.Resource != "https://api.example" {
			t.Fatalf("account %+v %v", acct, err)
		}
		if f := m.refresh(t, i); f.Get("resource") != "https://api.example" {
			t.Fatalf("resource %q", f.Get("resource"))
		}
	})
	t.Run("RELAY_RESOURCE=off sends none", func(t *testing.T) {
		m := rootServer(t, "O")
		if f := m.refresh(t, m.interactive("")); f.Has("resource") {
			t.Fatalf("resource %q sent", f.Get("resource"))
		}
	})
	t.Run("a document naming the MCP URL changes nothing", func(t *testing.T) {
		m := newMCPServer(t)
		m.docs[prmPath] = map[string]any{"resource": "O/mcp", "authorization_servers": []string{"O"}}
		m.docs[asRoot] = asDoc
		i := m.interactive()
		acct, err := i.Account(context.Background())
		if err != nil || acct.Resource != i.Backend || acct.Server != "" {
			t.Fatalf("account %+v %v", acct, err)
		}
		if f := m.refresh(t, i); f.Get("resource") != i.Backend {
			t.Fatalf("resource %q", f.Get("resource"))
		}
	})
	t.Run("another origin is refused", func(t *testing.T) {
		m := rootServer(t, "https://evil.example")
		_, err := m.interactive().Account(context.Background())
		testkit.WantIs(t, err, oauth.ErrResourceMismatch, "a root document naming another origin")
		if m.asked(asRoot) != 0 {
			t.Fatal("the authorization server was asked after the mismatch")
		}
	})
	t.Run("a later run finds the stored account by its origin resource", func(t *testing.T) {
		m := newMCPServer(t)
		i := m.interactive()
		i.Registry = accounts{{Issuer: "https://as.example", ClientID: "relay", Resource: m.srv.URL, Server: i.Backend}}
		acct, err := i.Account(context.Background())
		if err != nil || acct.Issuer != "https://as.example" || acct.Resource != m.srv.URL || acct.Server != i.Backend {
			t.Fatalf("account %+v %v", acct, err)
		}
		if len(m.paths()) != 0 {
			t.Fatalf("discovery ran: %v", m.paths())
		}
	})
}

// auth/2025-03-26-oauth-metadata-backcompat and -endpoint-fallback: a
// server with no protected resource metadata is its own authorization
// server, found at its origin.
func TestLegacyFallback(t *testing.T) {
	t.Run("root metadata with its issuer under /oauth", func(t *testing.T) {
		m := newMCPServer(t)
		m.docs[asRoot] = map[string]any{"issuer": "O/oauth", "authorization_endpoint": "O/oauth/authorize",
			"token_endpoint": "O/oauth/token", "registration_endpoint": "O/oauth/register", "code_challenge_methods_supported": []string{"S256"}}
		i := m.interactive()
		acct, err := i.Account(context.Background())
		if err != nil || acct.Issuer != m.srv.URL || acct.Resource != i.Backend {
			t.Fatalf("account %+v %v", acct, err)
		}
		if i.Resolved() {
			t.Fatal("Resolved before any sign-in: requests would carry no token first")
		}
		if got := strings.Join(m.paths(), " "); got != prmPath+" "+prmRoot {
			t.Fatalf("asked %s before any sign-in", got)
		}
		if f := m.refresh(t, i); f.Get("resource") != i.Backend {
			t.Fatalf("resource %q", f.Get("resource"))
		}
		if m.asked("/oauth/token") != 1 {
			t.Fatalf("asked %v", m.paths())
		}
		if !i.Resolved() {
			t.Fatal("not Resolved after a refresh")
		}
	})
	t.Run("no metadata at all: the default endpoints", func(t *testing.T) {
		m := newMCPServer(t)
		i := m.interactive()
		md, err := i.Metadata(context.Background())
		testkit.NoErr(t, err)
		if md.Issuer != m.srv.URL || md.AuthorizationEndpoint != m.srv.URL+"/authorize" || md.RegistrationEndpoint != m.srv.URL+"/register" {
			t.Fatalf("%+v", md)
		}
		m.refresh(t, i)
		if m.asked("/token") != 1 {
			t.Fatalf("asked %v", m.paths())
		}
	})
	for name, h := range map[string]http.HandlerFunc{
		"a 5xx": func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) },
		"a 401": func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) },
		"an event stream": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write([]byte("data: \n\n"))
		},
	} {
		t.Run("not taken when the metadata fetch fails with "+name, func(t *testing.T) {
			m := newMCPServer(t)
			m.docs[prmPath] = h
			m.docs[asRoot] = asDoc
			i := m.interactive()
			if md, err := i.Metadata(context.Background()); err == nil {
				t.Fatalf("after %s: %+v", name, md)
			}
			if m.asked(asRoot) != 0 {
				t.Fatalf("after %s, fell back to the origin: %v", name, m.paths())
			}
		})
	}
	t.Run("not taken when a challenge named a document", func(t *testing.T) {
		m := newMCPServer(t)
		m.docs[asRoot] = asDoc
		i := m.interactive()
		i.Hint(m.srv.URL + "/prm.json") // 404
		_, err := i.Metadata(context.Background())
		testkit.WantIs(t, err, oauth.ErrNoResourceMetadata, "a challenge's document missing")
		if m.asked(asRoot) != 0 {
			t.Fatal("fell back to the origin")
		}
	})
	t.Run("a challenge naming a document overrules it", func(t *testing.T) {
		// auth/metadata-var3: the document only at a custom URL, which
		// the 401 names; the start-up probe found nothing well-known.
		m := newMCPServer(t)
		m.docs["/custom/prm.json"] = map[string]any{"resource": "O/mcp", "authorization_servers": []string{"O/tenant1"}}
		m.docs["/tenant1/.well-known/openid-configuration"] = map[string]any{"issuer": "O/tenant1", "authorization_endpoint": "O/tenant1/authorize",
			"token_endpoint": "O/tenant1/token", "code_challenge_methods_supported": []string{"S256"}}
		i := m.interactive()
		if acct, err := i.Account(context.Background()); err != nil || acct.Issuer != m.srv.URL {
			t.Fatalf("before the challenge: %+v %v", acct, err)
		}
		if md, err := i.Metadata(context.Background()); err != nil || md.Issuer != m.srv.URL {
			t.Fatalf("the fallback's metadata: %+v %v", md, err)
		}
		i.Hint(m.srv.URL + "/custom/prm.json")
		acct, err := i.Account(context.Background())
		if err != nil || acct.Issuer != m.srv.URL+"/tenant1" {
			t.Fatalf("after the challenge: %+v %v", acct, err)
		}
		md, err := i.Metadata(context.Background())
		if err != nil || md.Issuer != m.srv.URL+"/tenant1" {
			t.Fatalf("after the challenge, the metadata: %+v %v", md, err)
		}
	})
	t.Run("the policy must allow the advertised issuer too", func(t *testing.T) {
		m := newMCPServer(t)
		m.docs[asRoot] = oauthDoc
		i := m.interactive()
		i.Policy = loadPolicy(t, `{"allowed_issuers": ["`+m.srv.URL+`"]}`)
		_, err := i.Metadata(context.Background())
		testkit.WantIs(t, err, policy.ErrDenied, "the issuer under /oauth, not allowed")
		i = m.interactive()
		i.Policy = loadPolicy(t, `{"allowed_issuers": ["`+m.srv.URL+`", "`+m.srv.URL+`/oauth"]}`)
		testkit.NoErr(t, testkit.ErrOf(i.Metadata(context.Background())), "both allowed")
	})
	t.Run("a later run's stored issuer: the server still publishes no document", func(t *testing.T) {
		m := newMCPServer(t)
		m.docs[asRoot] = oauthDoc
		i := m.interactive()
		i.Registry = accounts{{Issuer: m.srv.URL, ClientID: "relay", Resource: i.Backend}}
		md, err := i.Metadata(context.Background())
		if err != nil || md.Issuer != m.srv.URL+"/oauth" {
			t.Fatalf("%+v %v", md, err)
		}
		if m.asked(prmPath) != 1 {
			t.Fatalf("the server's protected resource metadata was not asked again: %v", m.paths())
		}
	})
	t.Run("a later run's stored issuer: the server now publishes a document", func(t *testing.T) {
		m := newMCPServer(t)
		m.docs[prmPath] = map[string]any{"resource": "O/mcp", "authorization_servers": []string{"O/oauth"}}
		m.docs[asRoot] = oauthDoc
		i := m.interactive()
		i.Registry = accounts{{Issuer: m.srv.URL, ClientID: "relay", Resource: i.Backend}}
		_, err := i.Metadata(context.Background())
		testkit.WantIs(t, err, oauth.ErrIssuerMismatch, "the strict check, with no fallback")
	})
}

// sse-retry of the MCP conformance suite: a failed discovery is not tried
// again on every request, only after a while or with a challenge's hint.
func TestFailedDiscoveryRemembered(t *testing.T) {
	m := newMCPServer(t)
	m.docs[prmPath] = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte("id: 1\nretry: 500\ndata: \n\n"))
	})
	clock := testkit.NewStepClock(time.Now())
	i := m.interactive()
	i.Client.Now = clock.Now
	for range 3 {
		testkit.WantIs(t, testkit.ErrOf(i.Account(context.Background())), oauth.ErrBadMetadata, "discovery")
	}
	if n := m.asked(prmPath); n != 1 {
		t.Fatalf("asked %d times in a row", n)
	}
	clock.Advance(failedDiscoveryMemory)
	_, _ = i.Account(context.Background())
	if n := m.asked(prmPath); n != 2 {
		t.Fatalf("asked %d times, want 2 once the failure is old", n)
	}
	m.docs["/prm.json"] = map[string]any{"resource": "O/mcp", "authorization_servers": []string{"O"}}
	i.Hint(m.srv.URL + "/prm.json")
	acct, err := i.Account(context.Background())
	if err != nil || acct.Issuer != m.srv.URL {
		t.Fatalf("with a challenge's hint: %+v %v", acct, err)
	}
	t.Run("an issuer the policy refuses", func(t *testing.T) {
		m := newMCPServer(t)
		m.docs[prmPath] = map[string]any{"resource": "O/mcp", "authorization_servers": []string{"O"}}
		i := m.interactive()
		i.Policy = loadPolicy(t, `{"allowed_issuers": ["https://as.example"]}`)
		for range 3 {
			testkit.WantIs(t, testkit.ErrOf(i.Account(context.Background())), policy.ErrDenied, "a discovered issuer not allowed")
		}
		if n := m.asked(prmPath); n != 1 {
			t.Fatalf("asked %d times in a row", n)
		}
	})
	t.Run("a cancelled caller is not a failure of the server's", func(t *testing.T) {
		m := newMCPServer(t)
		ctx, cancel := context.WithCancel(context.Background())
		m.docs[prmPath] = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { cancel(); http.NotFound(w, nil) })
		i := m.interactive()
		if _, err := i.Account(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
		testkit.NoErr(t, testkit.ErrOf(i.Account(context.Background())), "the cancelled lookup was remembered")
	})
}

func loadPolicy(t *testing.T, body string) *policy.Policy {
	t.Helper()
	pol, err := policy.Load("", testkit.WriteTemp(t, "policy.json", body, 0o644))
	testkit.NoErr(t, err)
	return pol
}

// TestPolicyChecksEveryMetadataEndpoint: an allowed issuer whose metadata
// points an endpoint at another host is refused before any endpoint is used.
func TestPolicyChecksEveryMetadataEndpoint(t *testing.T) {
	for _, field := range []string{"authorization_endpoint", "token_endpoint", "revocation_endpoint",
		"registration_endpoint", "device_authorization_endpoint"} {
		t.Run(field, func(t *testing.T) {
			var elsewhere atomic.Int64
			other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
			defer other.Close()
			u, _ := url.Parse(other.URL)
			port := u.Port()
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				md := map[string]any{"issuer": srv.URL, "authorization_endpoint": srv.URL + "/authorize",
					"token_endpoint": srv.URL + "/token", "code_challenge_methods_supported": []string{"S256"}}
				md[field] = "http://localhost:" + port + "/x" // loopback, but not an allowed host
				_ = json.NewEncoder(w).Encode(md)
			}))
			defer srv.Close()
			i := &Interactive{Issuer: srv.URL, Client: oauth.Client{ClientID: "relay", HTTP: srv.Client()},
				Policy: loadPolicy(t, `{"allowed_auth_server_hosts": ["127.0.0.1"]}`)}
			_, err := i.Metadata(context.Background())
			testkit.WantIs(t, err, policy.ErrDenied, "metadata with %s on another host", field)
			// Control: without the policy the same metadata is accepted.
			j := &Interactive{Issuer: srv.URL, Client: oauth.Client{ClientID: "relay", HTTP: srv.Client()}}
			testkit.NoErr(t, testkit.ErrOf(j.Metadata(context.Background())), "control")
			if elsewhere.Load() != 0 {
				t.Fatal("the other host was contacted")
			}
		})
	}
}

// TestAssumePKCE: Interactive passes AssumePKCE to discovery, and a
// refusal for an omitted list says the way out, or why the one set does
// not apply.
func TestAssumePKCE(t *testing.T) {
	const tenant = "/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		iss := srv.URL + tenant
		if r.URL.Path != tenant+"/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": iss, "authorization_endpoint": iss + "/oauth2/v2.0/authorize",
			"token_endpoint": iss + "/oauth2/v2.0/token"})
	}))
	defer srv.Close()
	iss := srv.URL + tenant
	env := func(iss string) []policy.Assumption {
		return []policy.Assumption{{Issuer: iss, By: "RELAY_ASSUME_PKCE_S256"}}
	}
	for _, tc := range []struct {
		name   string
		assume []policy.Assumption
		pol    string
		want   string // "" = accepted
	}{
		{"named", env(iss), "", ""},
		{"by the policy", []policy.Assumption{{Issuer: iss, By: "assume_pkce_s256 of /etc/keyrelay/policy.json"}}, "", ""},
		{"not named", nil, "", "; if " + iss + " does PKCE with S256 anyway (Microsoft Entra ID does), set RELAY_ASSUME_PKCE_S256=" + iss},
		{"another issuer", env(iss + "/"), "", "; S256 is assumed only for " + iss + "/ (RELAY_ASSUME_PKCE_S256), not for " + iss + ": issuers must match exactly"},
		{"policy forbids", nil, `{"assume_pkce_s256": []}`, "; refused by policy: assume_pkce_s256 does not list " + iss},
		{"policy names another", []policy.Assumption{{Issuer: iss + "/", By: "assume_pkce_s256 of P"}}, `{"assume_pkce_s256": ["` + iss + `/"]}`,
			"; refused by policy: assume_pkce_s256 does not list " + iss},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := &Interactive{Issuer: iss, Client: oauth.Client{ClientID: "app", HTTP: srv.Client()}, AssumePKCE: tc.assume}
			if tc.pol != "" {
				i.Policy = loadPolicy(t, tc.pol)
			}
			md, err := i.Metadata(context.Background())
			if tc.want == "" {
				testkit.NoErr(t, err)
				if !md.PKCEAssumed {
					t.Fatal("PKCEAssumed is false")
				}
				return
			}
			if !errors.Is(err, oauth.ErrPKCEUnlisted) || !strings.HasSuffix(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant ErrPKCEUnlisted ending %q", err, tc.want)
			}
			if denied := errors.Is(err, policy.ErrDenied); denied != (tc.pol != "") {
				t.Fatalf("errors.Is(err, policy.ErrDenied) = %v", denied)
			}
		})
	}
}
