package authserver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestMetadata(t *testing.T) {
	e := newEnv(t)
	want := map[string]any{
		"issuer":                                         e.ts.URL,
		"authorization_endpoint":                         e.ts.URL + "/authorize",
		"token_endpoint":                                 e.ts.URL + "/token",
		"revocation_endpoint":                            e.ts.URL + "/revoke",
		"registration_endpoint":                          e.ts.URL + "/register",
		"device_authorization_endpoint":                  e.ts.URL + "/device_authorization",
		"jwks_uri":                                       e.ts.URL + "/jwks.json",
		"code_challenge_methods_supported":               []any{"S256"},
		"response_types_supported":                       []any{"code"},
		"grant_types_supported":                          []any{"authorization_code", "refresh_token", DeviceCodeGrantType},
		"token_endpoint_auth_methods_supported":          []any{"none"},
		"revocation_endpoint_auth_methods_supported":     []any{"none"},
		"scopes_supported":                               []any{"notes:read", "notes:write", "admin"},
		"authorization_response_iss_parameter_supported": true,
	}
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		t.Run(path, func(t *testing.T) {
			r := e.get(path)
			if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %q", r.status, r.header.Get("Content-Type"))
			}
			got := r.json(t)
			for k, v := range want {
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

func TestIssuerWithPath(t *testing.T) {
	s, err := New(Config{Issuer: "https://id.example/tenant1", Users: testUsers(t)})
	testkit.NoErr(t, err)
	if s.Metadata().TokenEndpoint != "https://id.example/tenant1/token" {
		t.Fatal(s.Metadata().TokenEndpoint)
	}
	for _, p := range []string{"/tenant1/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server/tenant1", "/tenant1/jwks.json"} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		var m Metadata
		if rec.Code != 200 || (p != "/tenant1/jwks.json" && (json.Unmarshal(rec.Body.Bytes(), &m) != nil || m.Issuer != "https://id.example/tenant1")) {
			t.Fatalf("%s: %d", p, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/token", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("route outside the issuer path: %d", rec.Code)
	}
	if len(s.Routes()) != 13 {
		t.Fatalf("routes: %v", s.Routes())
	}
}
