package authserver

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
)

const rsSecret = "resource-server-secret-0123"

// introspectEnv is a server with the resource-server client "rs".
func introspectEnv(t *testing.T, format string) *env {
	t.Helper()
	return newEnv(t, func(c *Config) {
		c.TokenFormat = format
		c.MachineClients = []MachineClient{{ID: "rs", Secret: secret.New(rsSecret), Introspect: true}}
	})
}

func (e *env) introspect(token, id, sec string) resp {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.abs("/introspect"), strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(id, sec)
	}
	return do(e.t, e.browser, req)
}

func (e *env) active(token string) bool {
	e.t.Helper()
	r := e.introspect(token, "rs", rsSecret)
	if r.status != 200 {
		e.t.Fatalf("introspect: %d %s", r.status, r.body)
	}
	return r.json(e.t)["active"] == true
}

func TestIntrospectOpaqueTokenAndRevocationAtOnce(t *testing.T) {
	e := introspectEnv(t, TokenOpaque)
	tok := e.tokens()
	at, rt := tok["access_token"].(string), tok["refresh_token"].(string)
	if strings.Contains(at, ".") {
		t.Fatalf("opaque token looks like a JWT")
	}
	r := e.introspect(at, "rs", rsSecret).json(t)
	if r["active"] != true || r["sub"] != "alice" || r["client_id"] != "relay" || r["iss"] != e.ts.URL ||
		r["aud"] != e.ts.URL || r["token_type"] != "Bearer" || !strings.Contains(r["scope"].(string), "notes:read") {
		t.Fatalf("introspection %v", r)
	}
	// Logout: the relay revokes its refresh token; the access token from
	// that family is inactive at the next introspection.
	if rr := e.post("/revoke", url.Values{"token": {rt}, "client_id": {"relay"}}); rr.status != 200 {
		t.Fatalf("revoke %d", rr.status)
	}
	if e.active(at) {
		t.Fatal("the access token is still active after its refresh family was revoked")
	}
}

func TestIntrospectJWTTokenRevokedDirectly(t *testing.T) {
	e := introspectEnv(t, TokenJWT)
	at := e.tokens()["access_token"].(string)
	if !e.active(at) {
		t.Fatal("a fresh JWT access token is inactive")
	}
	e.post("/revoke", url.Values{"token": {at}, "client_id": {"other-client"}})
	if !e.active(at) {
		t.Fatal("another client revoked the token")
	}
	e.post("/revoke", url.Values{"token": {at}, "token_type_hint": {"access_token"}})
	if e.active(at) {
		t.Fatal("a revoked access token is still active")
	}
}

func TestIntrospectExpiredUnknownAndRefreshTokensAreInactive(t *testing.T) {
	e := introspectEnv(t, TokenOpaque)
	tok := e.tokens()
	if e.active("kr_at_unknown") || e.active(tok["refresh_token"].(string)) {
		t.Fatal("an unknown token or a refresh token is active")
	}
	e.clock.Advance(DefaultTokenTTL + time.Second)
	if e.active(tok["access_token"].(string)) {
		t.Fatal("an expired token is active")
	}
}

func TestIntrospectNeedsAResourceServerClient(t *testing.T) {
	e := introspectEnv(t, TokenOpaque)
	at := e.tokens()["access_token"].(string)
	wantOAuthError(t, e.introspect(at, "", ""), 401, "invalid_client")
	wantOAuthError(t, e.introspect(at, "rs", "wrong-secret-0123456789"), 401, "invalid_client")
	wantOAuthError(t, e.introspect("", "rs", rsSecret), 400, "invalid_request")
	// A resource server may not get tokens of its own.
	wantOAuthError(t, e.tokenPost(url.Values{"grant_type": {"client_credentials"}}, "", "rs", rsSecret), 400, "unauthorized_client")
	md := e.get("/.well-known/oauth-authorization-server").json(t)
	if md["introspection_endpoint"] != e.ts.URL+"/introspect" {
		t.Fatalf("metadata: %v", md["introspection_endpoint"])
	}
	if md := newEnv(t).get("/.well-known/oauth-authorization-server").json(t); md["introspection_endpoint"] != nil {
		t.Fatal("introspection_endpoint without a resource-server client")
	}
}

func TestTokenFormatIsChecked(t *testing.T) {
	if _, err := New(Config{Issuer: "https://id.example", Users: testUsers(t), TokenFormat: "paseto"}); err == nil {
		t.Fatal("an unknown token format was accepted")
	}
}

// TestIntrospectOnlyTheClientsResources: a resource server limited to its
// resources learns nothing about another resource's tokens, not even
// that they are live; one with no list sees every resource's. A list
// outside the server's resources, or on a client that is not a resource
// server, is a configuration error.
func TestIntrospectOnlyTheClientsResources(t *testing.T) {
	const otherSecret = "other-resource-secret-0123"
	e := newEnv(t, func(c *Config) {
		c.TokenFormat = TokenOpaque
		c.MachineClients = []MachineClient{
			{ID: "rs", Secret: secret.New(rsSecret), Introspect: true},
			{ID: "mine", Secret: secret.New(otherSecret), Introspect: true, Resources: []string{c.Issuer}},
			{ID: "other", Secret: secret.New(otherSecret), Introspect: true, Resources: []string{"https://other.example/api"}},
		}
	})
	at := e.tokens()["access_token"].(string) // for e.ts.URL
	for _, tc := range []struct {
		client string
		active bool
	}{{"rs", true}, {"mine", true}, {"other", false}} {
		sec := otherSecret
		if tc.client == "rs" {
			sec = rsSecret
		}
		r := e.introspect(at, tc.client, sec)
		got := r.json(t)
		if r.status != 200 || got["active"] != tc.active {
			t.Fatalf("%s: %d %v, want active %v", tc.client, r.status, got, tc.active)
		}
		if !tc.active && len(got) != 1 {
			t.Fatalf("%s learns about another resource's token: %v", tc.client, got)
		}
	}
	for name, mc := range map[string]MachineClient{
		"an unknown resource":   {ID: "rs", Secret: secret.New(rsSecret), Introspect: true, Resources: []string{"https://elsewhere.example/"}},
		"not a resource server": {ID: "ci", Secret: secret.New(rsSecret), Resources: []string{"https://other.example/api"}},
	} {
		_, err := New(Config{Issuer: "http://127.0.0.1:1", Resources: []string{"https://other.example/api"}, Users: testUsers(t), MachineClients: []MachineClient{mc}})
		if !errors.Is(err, ErrConfig) {
			t.Fatalf("%s: err %v, want ErrConfig", name, err)
		}
	}
	cs, err := ParseMachineClients([]byte(`[{"client_id":"rs","client_secret":"` + rsSecret + `","introspect":true,"resources":["https://other.example/api"]}]`))
	if err != nil || len(cs) != 1 || len(cs[0].Resources) != 1 || cs[0].Resources[0] != "https://other.example/api" {
		t.Fatalf("resources from a file: %+v %v", cs, err)
	}
}
