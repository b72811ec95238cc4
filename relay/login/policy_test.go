package login

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/relay/policy"
)

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
