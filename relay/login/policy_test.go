package login

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
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
			if _, err := j.Metadata(context.Background()); err != nil {
				t.Fatalf("control: %v", err)
			}
			if elsewhere.Load() != 0 {
				t.Fatal("the other host was contacted")
			}
		})
	}
}
