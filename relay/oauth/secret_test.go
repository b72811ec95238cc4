package oauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// TestConfidentialClientSecret: a client secret goes in the body of token
// and revocation requests (client_secret_post), never in a header, and an
// answer that echoes it cannot carry it into an error.
func TestConfidentialClientSecret(t *testing.T) {
	const sec = "conf-client-secret-0123456789"
	f := newFakeAS(t)
	f.override(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"bad secret ` + sec + `"}`))
	}))
	c := f.client()
	c.ClientID, c.ClientSecret = "conf", secret.New(sec)
	_, err := c.Refresh(context.Background(), secret.New("rt-0123456789"))
	if !errors.Is(err, ErrInvalidClient) || strings.Contains(err.Error(), sec) {
		t.Fatalf("refresh error: %v", err)
	}
	if err := c.Revoke(context.Background(), secret.New("rt-0123456789"), "refresh_token"); err == nil || strings.Contains(err.Error(), sec) {
		t.Fatalf("revoke error: %v", err)
	}
	for _, r := range append(f.requests("/token"), f.requests("/revoke")...) {
		if r.Form.Get("client_secret") != sec || r.Form.Get("client_id") != "conf" || r.Header.Get("Authorization") != "" {
			t.Fatalf("%s: form without the client secret, or an Authorization header: %v", r.Path, r.Form.Get("client_id"))
		}
	}
	public := f.client()
	_, _ = public.Refresh(context.Background(), secret.New("rt-0123456789"))
	if reqs := f.requests("/token"); len(reqs) != 2 || reqs[1].Form.Has("client_secret") {
		t.Fatal("a public client sent a client_secret")
	}
}
