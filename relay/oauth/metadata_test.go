package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// mdServer serves metadata documents by path and records the paths asked.
type mdServer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []string
	docs map[string]func(w http.ResponseWriter, r *http.Request)
}

func newMDServer(t *testing.T) *mdServer {
	m := &mdServer{docs: map[string]func(http.ResponseWriter, *http.Request){}}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.seen = append(m.seen, r.URL.Path)
		h := m.docs[r.URL.Path]
		m.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *mdServer) doc(path string, md Metadata) {
	m.docs[path] = func(w http.ResponseWriter, _ *http.Request) { _ = json.NewEncoder(w).Encode(md) }
}

func (m *mdServer) paths() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.seen...)
}

func goodMD(iss string) Metadata {
	return Metadata{Issuer: iss, AuthorizationEndpoint: iss + "/authorize", TokenEndpoint: iss + "/token", CodeChallengeMethodsSupported: []string{"S256"}}
}

func TestDiscoverOrder(t *testing.T) {
	cases := []struct {
		name, path, servedAt string
		want                 []string
	}{
		{"root, RFC 8414", "", "/.well-known/oauth-authorization-server", []string{"/.well-known/oauth-authorization-server"}},
		{"root, OIDC fallback", "", "/.well-known/openid-configuration",
			[]string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}},
		{"path, RFC 8414 inserted", "/tenant1", "/.well-known/oauth-authorization-server/tenant1",
			[]string{"/.well-known/oauth-authorization-server/tenant1"}},
		{"path, OIDC inserted", "/tenant1", "/.well-known/openid-configuration/tenant1",
			[]string{"/.well-known/oauth-authorization-server/tenant1", "/.well-known/openid-configuration/tenant1"}},
		{"path, OIDC appended", "/tenant1", "/tenant1/.well-known/openid-configuration",
			[]string{"/.well-known/oauth-authorization-server/tenant1", "/.well-known/openid-configuration/tenant1", "/tenant1/.well-known/openid-configuration"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMDServer(t)
			iss := m.srv.URL + tc.path
			m.doc(tc.servedAt, goodMD(iss))
			md, err := Discover(context.Background(), m.srv.Client(), iss)
			testkit.NoErr(t, err)
			if md.TokenEndpoint != iss+"/token" || strings.Join(m.paths(), " ") != strings.Join(tc.want, " ") {
				t.Fatalf("asked %v, want %v", m.paths(), tc.want)
			}
		})
	}
	t.Run("nothing found", func(t *testing.T) {
		m := newMDServer(t)
		testkit.WantIs(t, testkit.ErrOf(Discover(context.Background(), nil, m.srv.URL)), ErrNoMetadata, "Discover")
	})
	t.Run("5xx stops discovery", func(t *testing.T) {
		m := newMDServer(t)
		m.docs["/.well-known/oauth-authorization-server"] = func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(502) }
		m.doc("/.well-known/openid-configuration", goodMD(m.srv.URL))
		if _, err := Discover(context.Background(), nil, m.srv.URL); err == nil || len(m.paths()) != 1 {
			t.Fatalf("err %v after %v", err, m.paths())
		}
	})
}

func TestC1_MetadataWithoutS256(t *testing.T) {
	for name, methods := range map[string][]string{"absent": nil, "plain only": {"plain"}, "lowercase": {"s256"}} {
		t.Run(name, func(t *testing.T) {
			m := newMDServer(t)
			md := goodMD(m.srv.URL)
			md.CodeChallengeMethodsSupported = methods
			m.doc("/.well-known/oauth-authorization-server", md)
			testkit.WantIs(t, testkit.ErrOf(Discover(context.Background(), nil, m.srv.URL)), ErrNoPKCE, "Discover")
			c := &Client{ClientID: "relay", Metadata: &md}
			testkit.WantIs(t, testkit.ErrOf(c.StartLogin(context.Background(), Callback{})), ErrNoPKCE, "StartLogin with hand-made metadata")
			testkit.WantIs(t, testkit.ErrOf(c.Refresh(context.Background(), secretOf("x"))), ErrNoPKCE, "Refresh")
		})
	}
}

func TestC2_IssuerMismatch(t *testing.T) {
	m := newMDServer(t)
	for name, doc := range map[string]string{
		"other host":     "https://evil.example",
		"trailing slash": m.srv.URL + "/",
		"upper case":     strings.ToUpper(m.srv.URL),
		"other port":     "http://127.0.0.1:1",
		"empty":          "",
	} {
		t.Run(name, func(t *testing.T) {
			md := goodMD(m.srv.URL)
			md.Issuer = doc
			m.doc("/.well-known/oauth-authorization-server", md)
			m.doc("/.well-known/openid-configuration", goodMD(m.srv.URL))
			testkit.WantIs(t, testkit.ErrOf(Discover(context.Background(), nil, m.srv.URL)), ErrIssuerMismatch, "Discover (and no fallback)")
		})
	}
	t.Run("asked with a trailing slash", func(t *testing.T) {
		m.doc("/.well-known/oauth-authorization-server", goodMD(m.srv.URL))
		testkit.WantIs(t, testkit.ErrOf(Discover(context.Background(), nil, m.srv.URL+"/")), ErrIssuerMismatch, "Discover")
	})
}

// refuseTransport fails every request and counts them, so a test can prove
// nothing left the process.
type refuseTransport struct {
	mu sync.Mutex
	n  int
}

func (r *refuseTransport) RoundTrip(*http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.n++
	r.mu.Unlock()
	return nil, errors.New("network disabled in this test")
}

func TestC3_InsecureMetadataURL(t *testing.T) {
	rt := &refuseTransport{}
	hc := &http.Client{Transport: rt}
	for _, iss := range []string{"http://auth.example", "http://10.0.0.1", "ftp://auth.example", "auth.example", "https://user:pw@auth.example", "https://auth.example#frag"} {
		testkit.ExpectIs(t, testkit.ErrOf(Discover(context.Background(), hc, iss)), ErrInsecureURL, "%q", iss)
	}
	if rt.n != 0 {
		t.Fatalf("%d requests went out for insecure issuers", rt.n)
	}
	testkit.ExpectIs(t, testkit.ErrOf(Discover(context.Background(), hc, "https://auth.example?x=1")), ErrConfig, "issuer with query")
}

func TestC3_InsecureEndpointInMetadata(t *testing.T) {
	for field, insecure := range map[string]func(*Metadata){
		"authorization": func(md *Metadata) { md.AuthorizationEndpoint = "http://auth.example/authorize" },
		"token":         func(md *Metadata) { md.TokenEndpoint = "http://auth.example/token" },
		"revocation":    func(md *Metadata) { md.RevocationEndpoint = "http://auth.example/revoke" },
	} {
		m := newMDServer(t)
		md := goodMD(m.srv.URL)
		insecure(&md)
		m.doc("/.well-known/oauth-authorization-server", md)
		testkit.ExpectIs(t, testkit.ErrOf(Discover(context.Background(), nil, m.srv.URL)), ErrInsecureURL, "plain http %s endpoint", field)
	}
}

// metadataKinds are the two documents the client discovers and the same
// rules hold for: the authorization server's (RFC 8414) and the protected
// resource's (RFC 9728), each with bodies that are not a usable document.
var metadataKinds = []struct {
	name, wellKnown string
	good            func(base string) func(http.ResponseWriter, *http.Request) // a document for the server at base
	discover        func(base string) error
	malformed       map[string]string // R stands for base
}{
	{"authorization server", "/.well-known/oauth-authorization-server",
		func(base string) func(http.ResponseWriter, *http.Request) {
			return func(w http.ResponseWriter, _ *http.Request) { _ = json.NewEncoder(w).Encode(goodMD(base)) }
		},
		func(base string) error { _, err := Discover(context.Background(), nil, base); return err },
		map[string]string{"html": "<html>",
			"no token endpoint": `{"issuer":"R","authorization_endpoint":"R/authorize","code_challenge_methods_supported":["S256"]}`}},
	{"resource", "/.well-known/oauth-protected-resource",
		func(base string) func(http.ResponseWriter, *http.Request) { return prDoc(base, "https://as.example") },
		func(base string) error { _, err := DiscoverResource(context.Background(), nil, base, ""); return err },
		map[string]string{"html": "<html>", "array": "[]", "wrong type": `{"resource":1}`,
			"servers not a list": `{"resource":"R","authorization_servers":"x"}`}},
}

func TestC3_RedirectToAnotherHost(t *testing.T) {
	for _, k := range metadataKinds {
		t.Run(k.name, func(t *testing.T) {
			other, m := newMDServer(t), newMDServer(t)
			other.docs["/doc"] = k.good(m.srv.URL)
			m.docs[k.wellKnown] = func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.srv.URL+"/doc", http.StatusFound)
			}
			testkit.WantIs(t, k.discover(m.srv.URL), ErrRedirect, "discover")
			if len(other.paths()) != 0 {
				t.Fatal("the other host was contacted")
			}
			t.Run("same host is followed", func(t *testing.T) {
				m.docs[k.wellKnown] = func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, "/meta.json", http.StatusFound)
				}
				m.docs["/meta.json"] = k.good(m.srv.URL)
				testkit.NoErr(t, k.discover(m.srv.URL))
			})
		})
	}
}

func TestC3_HugeMetadata(t *testing.T) {
	for _, k := range metadataKinds {
		t.Run(k.name, func(t *testing.T) {
			m := newMDServer(t)
			pad := strings.Repeat(" ", maxBody)
			m.docs[k.wellKnown] = func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(pad))
				k.good(m.srv.URL)(w, r)
			}
			testkit.WantIs(t, k.discover(m.srv.URL), ErrTooLarge, "discover")
			m.docs[k.wellKnown] = func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Length", "2000000")
				w.WriteHeader(200)
			}
			testkit.WantIs(t, k.discover(m.srv.URL), ErrTooLarge, "declared length")
		})
	}
}

func TestDiscoverMalformed(t *testing.T) {
	for _, k := range metadataKinds {
		for name, body := range k.malformed {
			t.Run(k.name+"/"+name, func(t *testing.T) {
				m := newMDServer(t)
				m.docs[k.wellKnown] = func(w http.ResponseWriter, _ *http.Request) {
					_, _ = w.Write([]byte(strings.ReplaceAll(body, "R", m.srv.URL)))
				}
				testkit.WantIs(t, k.discover(m.srv.URL), ErrBadMetadata, "discover")
			})
		}
	}
}

func TestLoopbackHosts(t *testing.T) {
	for h, want := range map[string]bool{"127.0.0.1": true, "127.1.2.3": true, "::1": true, "localhost": true, "LOCALHOST": true,
		"localhost.evil.example": false, "10.0.0.1": false, "0.0.0.0": false, "example.com": false, "": false} {
		if isLoopbackHost(h) != want {
			t.Errorf("isLoopbackHost(%q) = %v", h, !want)
		}
	}
}
