package oauth

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// legacyMD is a document like the one of the conformance suite's
// auth/2025-03-26-oauth-metadata-backcompat: at the origin's root, naming
// an issuer under /oauth, with its endpoints there.
func legacyMD(origin string) Metadata {
	return Metadata{Issuer: origin + "/oauth", AuthorizationEndpoint: origin + "/oauth/authorize",
		TokenEndpoint: origin + "/oauth/token", RegistrationEndpoint: origin + "/oauth/register",
		CodeChallengeMethodsSupported: []string{"S256"}}
}

func TestDiscoverLegacy(t *testing.T) {
	const rfc8414, oidc = "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"
	t.Run("root metadata with a same-origin issuer under a path", func(t *testing.T) {
		m := newMDServer(t)
		m.doc(rfc8414, legacyMD(m.srv.URL))
		md, err := DiscoverLegacy(context.Background(), nil, m.srv.URL+"/mcp")
		testkit.NoErr(t, err)
		if md.Issuer != m.srv.URL+"/oauth" || md.TokenEndpoint != m.srv.URL+"/oauth/token" {
			t.Fatalf("%+v", md)
		}
		if strings.Join(m.paths(), " ") != rfc8414 {
			t.Fatalf("asked %v", m.paths())
		}
	})
	t.Run("OpenID Connect at the root", func(t *testing.T) {
		m := newMDServer(t)
		m.doc(oidc, goodMD(m.srv.URL))
		md, err := DiscoverLegacy(context.Background(), nil, m.srv.URL+"/mcp")
		if err != nil || md.Issuer != m.srv.URL || strings.Join(m.paths(), " ") != rfc8414+" "+oidc {
			t.Fatalf("%+v %v, asked %v", md, err, m.paths())
		}
	})
	t.Run("no metadata: the default endpoints at the origin", func(t *testing.T) {
		m := newMDServer(t)
		md, err := DiscoverLegacy(context.Background(), nil, m.srv.URL+"/api/mcp")
		testkit.NoErr(t, err)
		o := m.srv.URL
		if md.Issuer != o || md.AuthorizationEndpoint != o+"/authorize" || md.TokenEndpoint != o+"/token" ||
			md.RegistrationEndpoint != o+"/register" || md.RevocationEndpoint != "" || md.DeviceAuthorizationEndpoint != "" {
			t.Fatalf("%+v", md)
		}
		testkit.NoErr(t, md.validate(), "the default endpoints are usable metadata")
	})
	t.Run("a 4xx other than 404: no defaults", func(t *testing.T) {
		m := newMDServer(t)
		m.docs[rfc8414] = func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", http.StatusUnauthorized) }
		testkit.WantIs(t, testkit.ErrOf(DiscoverLegacy(context.Background(), nil, m.srv.URL+"/mcp")), ErrNoMetadata, "401")
	})
	t.Run("a 5xx stops: no defaults", func(t *testing.T) {
		m := newMDServer(t)
		m.docs[rfc8414] = func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }
		if md, err := DiscoverLegacy(context.Background(), nil, m.srv.URL+"/mcp"); err == nil {
			t.Fatalf("accepted %+v", md)
		}
		if len(m.paths()) != 1 {
			t.Fatalf("asked %v", m.paths())
		}
	})
	t.Run("an answer that is not JSON: no defaults", func(t *testing.T) {
		m := newMDServer(t)
		m.docs[rfc8414] = endless("text/event-stream", "data: \n\n")
		testkit.WantIs(t, testkit.ErrOf(DiscoverLegacy(context.Background(), nil, m.srv.URL+"/mcp")), ErrBadMetadata, "event stream")
	})
	t.Run("no S256", func(t *testing.T) {
		m := newMDServer(t)
		md := legacyMD(m.srv.URL)
		md.CodeChallengeMethodsSupported = []string{"plain"}
		m.doc(rfc8414, md)
		testkit.WantIs(t, testkit.ErrOf(DiscoverLegacy(context.Background(), nil, m.srv.URL+"/mcp")), ErrNoPKCE, "plain only")
	})
	t.Run("an issuer byte for byte the origin may name endpoints elsewhere, as RFC 8414 allows", func(t *testing.T) {
		m := newMDServer(t)
		md := goodMD(m.srv.URL)
		md.TokenEndpoint = "https://idp.example/token"
		m.doc(rfc8414, md)
		got, err := DiscoverLegacy(context.Background(), nil, m.srv.URL+"/mcp")
		if err != nil || got.TokenEndpoint != "https://idp.example/token" {
			t.Fatalf("%+v %v", got, err)
		}
	})
}

// The narrow exception of DiscoverLegacy: an issuer other than the origin
// is accepted only with itself and every endpoint on the origin.
func TestDiscoverLegacyRefusesAnotherOrigin(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(md *Metadata, other string)
	}{
		{"issuer", func(md *Metadata, other string) { md.Issuer = other + "/oauth" }},
		{"issuer on another host", func(md *Metadata, _ string) { md.Issuer = "https://as.example/oauth" }},
		{"authorization endpoint", func(md *Metadata, other string) { md.AuthorizationEndpoint = other + "/authorize" }},
		{"token endpoint", func(md *Metadata, other string) { md.TokenEndpoint = other + "/token" }},
		{"registration endpoint", func(md *Metadata, other string) { md.RegistrationEndpoint = other + "/register" }},
		{"revocation endpoint", func(md *Metadata, other string) { md.RevocationEndpoint = other + "/revoke" }},
		{"device endpoint", func(md *Metadata, other string) { md.DeviceAuthorizationEndpoint = other + "/device" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, other := newMDServer(t), newMDServer(t)
			md := legacyMD(m.srv.URL)
			tc.mod(&md, other.srv.URL) // the same host, another port: another origin
			m.doc("/.well-known/oauth-authorization-server", md)
			got, err := DiscoverLegacy(context.Background(), nil, m.srv.URL+"/mcp")
			testkit.WantIs(t, err, ErrIssuerMismatch, "%+v", got)
		})
	}
}
