package authserver

import (
	"net/url"
	"testing"
)

func TestRevoke(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Clients = append(DefaultClients(), Client{ID: "other", RedirectURIs: []string{"http://127.0.0.1/callback"}})
	})
	ok := func(t *testing.T, r resp) {
		t.Helper()
		if r.status != 200 || r.body != "" || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("revoke: %d %q", r.status, r.body)
		}
	}
	t.Run("unknown token answers 200", func(t *testing.T) {
		ok(t, e.post("/revoke", url.Values{"token": {"nope"}, "token_type_hint": {"refresh_token"}}))
	})
	t.Run("access token answers 200", func(t *testing.T) {
		ok(t, e.post("/revoke", url.Values{"token": {e.tokens()["access_token"].(string)}, "token_type_hint": {"access_token"}}))
	})
	t.Run("another client's token is left alone, silently", func(t *testing.T) {
		rt := e.tokens()["refresh_token"].(string)
		ok(t, e.post("/revoke", url.Values{"token": {rt}, "client_id": {"other"}}))
		if r := e.refresh(rt); r.status != 200 {
			t.Fatalf("refresh after a foreign revoke: %d", r.status)
		}
	})
	t.Run("revoking a refresh token revokes its family", func(t *testing.T) {
		rt1 := e.tokens()["refresh_token"].(string)
		rt2 := e.refresh(rt1).json(t)["refresh_token"].(string)
		ok(t, e.post("/revoke", url.Values{"token": {rt2}, "client_id": {"relay"}}))
		wantOAuthError(t, e.refresh(rt2), 400, "invalid_grant")
		ok(t, e.post("/revoke", url.Values{"token": {rt2}})) // again: still 200
	})
	t.Run("malformed requests", func(t *testing.T) {
		wantOAuthError(t, e.post("/revoke", url.Values{}), 400, "invalid_request")
		wantOAuthError(t, e.postRaw("/revoke", "application/json", `{"token":"x"}`), 400, "invalid_request")
	})
}
