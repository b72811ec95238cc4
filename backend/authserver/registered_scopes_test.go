package authserver

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// register registers a client with the JSON metadata body and returns its
// id.
func (e *env) register(body string) string {
	e.t.Helper()
	r := e.postRaw("/register", "application/json", body)
	if r.status != 201 {
		e.t.Fatalf("register: %d %s", r.status, r.body)
	}
	return r.json(e.t)["client_id"].(string)
}

// signInAs runs a sign-in and code exchange for a registered client with
// redirect http://127.0.0.1/cb, asking for scope ("" names none), and
// returns the token response.
func (e *env) signInAs(clientID, scope string) map[string]any {
	e.t.Helper()
	v, ch := pkce()
	q := authParams(ch)
	q.Set("client_id", clientID)
	q.Set("redirect_uri", "http://127.0.0.1:6000/cb")
	if scope != "" {
		q.Set("scope", scope)
	}
	code := e.code(q)
	r := e.post("/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v},
		"client_id": {clientID}, "redirect_uri": {"http://127.0.0.1:6000/cb"}})
	if r.status != 200 {
		e.t.Fatalf("token: %d %s", r.status, r.body)
	}
	return r.json(e.t)
}

// TestF1_RegisteredClientGetsAdminOnlyByAsking: a client registered
// without a scope, as the relay registers, may use every scope, but gets
// by default only what a pre-registered client gets; admin needs a request
// that names it (issue 14, F1: it used to get every scope, admin included,
// with no step-up).
func TestF1_RegisteredClientGetsAdminOnlyByAsking(t *testing.T) {
	e := newEnv(t)
	r := e.postRaw("/register", "application/json", `{"redirect_uris":["http://127.0.0.1/cb"],"grant_types":["authorization_code","refresh_token",`+
		`"`+DeviceCodeGrantType+`"]}`)
	if r.status != 201 || r.json(t)["scope"] != "notes:read notes:write admin" {
		t.Fatalf("registration: %d %s; want every scope registered", r.status, r.body)
	}
	id := r.json(t)["client_id"].(string)
	if got := e.signInAs(id, "")["scope"]; got != "notes:read notes:write" {
		t.Fatalf("first sign-in got scope %q, want notes:read notes:write (no admin)", got)
	}
	if got := e.signInAs(id, "notes:read notes:write admin")["scope"]; got != "notes:read notes:write admin" {
		t.Fatalf("step-up got scope %q, want admin too", got)
	}
	dev := e.post("/device_authorization", url.Values{"client_id": {id}})
	if dev.status != 200 {
		t.Fatalf("device authorization: %d %s", dev.status, dev.body)
	}
	c, _ := e.s.store.client(id)
	if !slices.Equal(c.DefaultScopes, []string{"notes:read", "notes:write"}) {
		t.Fatalf("default scopes %v (the device grant's default too)", c.DefaultScopes)
	}
	// A client that registered admin alone gets no default scope.
	only := e.register(`{"redirect_uris":["http://127.0.0.1/cb"],"scope":"admin"}`)
	if got := e.signInAs(only, "")["scope"]; got != nil && got != "" {
		t.Fatalf("a client registered for admin alone got %q without asking", got)
	}
}

func TestF1_RegisteredDefaultScopesConfig(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RegisteredDefaultScopes = []string{"notes:read"} })
	if got := e.signInAs(e.register(`{"redirect_uris":["http://127.0.0.1/cb"]}`), "")["scope"]; got != "notes:read" {
		t.Fatalf("configured defaults: got scope %q", got)
	}
	_, err := New(Config{Issuer: "http://127.0.0.1:1", Users: testUsers(t), RegisteredDefaultScopes: []string{"root"}})
	testkit.WantIs(t, err, ErrConfig, "defaults outside scopes_supported")
	if err != nil && !strings.Contains(err.Error(), "default scopes") {
		t.Fatalf("unclear message: %v", err)
	}
}
