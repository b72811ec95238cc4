package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// prDoc serves a protected resource metadata document naming resource.
func prDoc(resource string, servers ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(ResourceMetadata{Resource: resource, AuthorizationServers: servers, BearerMethodsSupported: []string{"header"}})
	}
}

func TestDiscoverResourceOrder(t *testing.T) {
	const wk = "/.well-known/oauth-protected-resource"
	cases := []struct {
		name, path, servedAt, challenge string
		want                            []string
	}{
		{"root resource", "", wk, "", []string{wk}},
		{"root resource with slash", "/", wk, "", []string{wk}},
		{"path inserted", "/mcp", wk + "/mcp", "", []string{wk + "/mcp"}},
		{"path, then root", "/mcp", wk, "", []string{wk + "/mcp", wk}},
		{"challenge URL only", "/mcp", "/meta/prm.json", "/meta/prm.json", []string{"/meta/prm.json"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMDServer(t)
			resource := m.srv.URL + tc.path
			m.docs[tc.servedAt] = prDoc(resource, "https://as.example")
			m.docs[wk+"/unused"] = prDoc(resource) // never asked
			challenge := ""
			if tc.challenge != "" {
				challenge = m.srv.URL + tc.challenge
			}
			rm, err := DiscoverResource(context.Background(), m.srv.Client(), resource, challenge)
			testkit.NoErr(t, err)
			if strings.Join(m.paths(), " ") != strings.Join(tc.want, " ") {
				t.Fatalf("asked %v, want %v", m.paths(), tc.want)
			}
			if as, err := rm.AuthorizationServer(); err != nil || as != "https://as.example" {
				t.Fatalf("AuthorizationServer: %q %v", as, err)
			}
		})
	}
	t.Run("challenge URL failing does not fall back", func(t *testing.T) {
		m := newMDServer(t)
		m.docs[wk] = prDoc(m.srv.URL)
		_, err := DiscoverResource(context.Background(), nil, m.srv.URL, m.srv.URL+"/missing")
		if !errors.Is(err, ErrNoResourceMetadata) || strings.Join(m.paths(), " ") != "/missing" {
			t.Fatalf("err %v, asked %v", err, m.paths())
		}
	})
	t.Run("none found", func(t *testing.T) {
		m := newMDServer(t)
		_, err := DiscoverResource(context.Background(), nil, m.srv.URL+"/mcp", "")
		if !errors.Is(err, ErrNoResourceMetadata) || len(m.paths()) != 2 {
			t.Fatalf("err %v, asked %v", err, m.paths())
		}
	})
	t.Run("5xx stops", func(t *testing.T) {
		m := newMDServer(t)
		m.docs[wk+"/mcp"] = func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(502) }
		m.docs[wk] = prDoc(m.srv.URL + "/mcp")
		if _, err := DiscoverResource(context.Background(), nil, m.srv.URL+"/mcp", ""); err == nil || len(m.paths()) != 1 {
			t.Fatalf("err %v, asked %v", err, m.paths())
		}
	})
}

func TestC3_ResourceMismatch(t *testing.T) {
	cases := []struct {
		name, served, asked string
		ok                  bool
	}{
		{"identical", "/mcp", "/mcp", true},
		{"origin without and with slash", "", "/", true},
		{"origin with and without slash", "/", "", true},
		{"trailing slash on a path", "/mcp/", "/mcp", false},
		{"missing trailing slash on a path", "/mcp", "/mcp/", false},
		{"another path", "/other", "/mcp", false},
		{"case differs", "/MCP", "/mcp", false},
		{"query added", "/mcp?x=1", "/mcp", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMDServer(t)
			m.docs["/meta"] = prDoc(m.srv.URL+tc.served, "https://as.example")
			_, err := DiscoverResource(context.Background(), nil, m.srv.URL+tc.asked, m.srv.URL+"/meta")
			if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, ErrResourceMismatch)) {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
		})
	}
	t.Run("another host", func(t *testing.T) {
		m := newMDServer(t)
		m.docs["/.well-known/oauth-protected-resource"] = prDoc("https://evil.example", "https://as.example")
		testkit.WantIs(t, testkit.ErrOf(DiscoverResource(context.Background(), nil, m.srv.URL, "")), ErrResourceMismatch, "DiscoverResource")
	})
	t.Run("no resource", func(t *testing.T) {
		m := newMDServer(t)
		m.docs["/.well-known/oauth-protected-resource"] = prDoc("", "https://as.example")
		testkit.WantIs(t, testkit.ErrOf(DiscoverResource(context.Background(), nil, m.srv.URL, "")), ErrBadMetadata, "DiscoverResource")
	})
}

func TestC3_InsecureResourceMetadataURL(t *testing.T) {
	rt := &refuseTransport{}
	hc := &http.Client{Transport: rt}
	for _, tc := range [][2]string{
		{"http://backend.example/mcp", ""},
		{"http://10.0.0.1", ""},
		{"https://backend.example", "http://backend.example/.well-known/oauth-protected-resource"},
		{"https://backend.example", "http://169.254.169.254/latest/meta-data"},
		{"https://backend.example", "file:///etc/passwd"},
		{"https://backend.example", "https://user:pw@backend.example/prm"},
		{"https://backend.example", "/relative"},
		{"https://backend.example#f", ""},
	} {
		testkit.ExpectIs(t, testkit.ErrOf(DiscoverResource(context.Background(), hc, tc[0], tc[1])), ErrInsecureURL, "%q, %q", tc[0], tc[1])
	}
	if rt.n != 0 {
		t.Fatalf("%d requests went out for insecure URLs", rt.n)
	}
}

func TestAuthorizationServerPick(t *testing.T) {
	cases := []struct {
		servers []string
		want    string
		err     error
	}{
		{[]string{"https://a.example", "https://b.example"}, "https://a.example", nil},
		{[]string{"http://127.0.0.1:9000/tenant"}, "http://127.0.0.1:9000/tenant", nil},
		{nil, "", ErrNoResourceMetadata},
		{[]string{""}, "", ErrNoResourceMetadata},
		{[]string{"http://as.example"}, "", ErrInsecureURL},
	}
	for _, tc := range cases {
		rm := &ResourceMetadata{Resource: "https://r.example", AuthorizationServers: tc.servers}
		got, err := rm.AuthorizationServer()
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("%v: %q %v, want %q %v", tc.servers, got, err, tc.want, tc.err)
		}
	}
}

// RFC 9728 §3.3: a document must name the identifier its URL was built
// from. The root URL is built from the origin (auth/metadata-var2 of the
// MCP conformance suite: the document only there, naming the origin, for
// an MCP URL with a path); another origin is refused everywhere.
func TestResourceIdentifierPerURL(t *testing.T) {
	const wk = "/.well-known/oauth-protected-resource"
	cases := []struct {
		name      string
		servedAt  string // where the document is
		challenge string // the challenge's resource_metadata path, if any
		names     string // the resource it names: O is the origin
		ok        bool
	}{
		{"root names the origin", wk, "", "O", true},
		{"root names the origin with /", wk, "", "O/", true},
		{"root names the MCP URL", wk, "", "O/mcp", true},
		{"root names another path", wk, "", "O/other", false},
		{"root names a parent path", wk, "", "O/m", false},
		{"root names another origin", wk, "", "https://evil.example", false},
		{"root names another origin's MCP URL", wk, "", "https://evil.example/mcp", false},
		{"root names another port", wk, "", "http://127.0.0.1:1", false},
		{"path URL names the origin", wk + "/mcp", "", "O", false},
		{"path URL names the MCP URL", wk + "/mcp", "", "O/mcp", true},
		{"challenge URL names the origin", "/meta.json", "/meta.json", "O", false},
		{"challenge URL names the MCP URL", "/meta.json", "/meta.json", "O/mcp", true},
		{"challenge URL is the root URL, names the origin", wk, wk, "O", true},
		{"challenge URL is the root URL, names another origin", wk, wk, "https://evil.example", false},
		{"challenge URL is the path URL, names the origin", wk + "/mcp", wk + "/mcp", "O", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMDServer(t)
			named := strings.Replace(tc.names, "O", m.srv.URL, 1)
			if strings.HasPrefix(tc.names, "http") {
				named = tc.names
			}
			m.docs[tc.servedAt] = prDoc(named, "https://as.example")
			challenge := ""
			if tc.challenge != "" {
				challenge = m.srv.URL + tc.challenge
			}
			rm, err := DiscoverResource(context.Background(), nil, m.srv.URL+"/mcp", challenge)
			if !tc.ok {
				testkit.WantIs(t, err, ErrResourceMismatch, "%s naming %q", tc.servedAt, named)
				return
			}
			testkit.NoErr(t, err)
			if rm.Resource != named {
				t.Fatalf("resource %q, want the one named, %q", rm.Resource, named)
			}
		})
	}
}
