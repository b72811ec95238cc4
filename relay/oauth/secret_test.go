package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// TestConfidentialClientSecret: a client secret goes in the body of token
// and revocation requests (client_secret_post), never in a header, and an
// answer that echoes it cannot carry it into an error.
func TestConfidentialClientSecret(t *testing.T) {
	const sec = "conf-client-secret-0123456789"
	var mu sync.Mutex
	var forms []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		forms = append(forms, r.PostForm)
		mu.Unlock()
		if r.Header.Get("Authorization") != "" {
			t.Error("an Authorization header was sent")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"bad secret ` + sec + `"}`))
	}))
	defer srv.Close()
	md := &Metadata{Issuer: srv.URL, AuthorizationEndpoint: srv.URL + "/authorize", TokenEndpoint: srv.URL + "/token",
		RevocationEndpoint: srv.URL + "/revoke", CodeChallengeMethodsSupported: []string{"S256"}}
	c := &Client{ClientID: "conf", ClientSecret: secret.New(sec), Metadata: md}
	_, err := c.Refresh(context.Background(), secret.New("rt-0123456789"))
	if !errors.Is(err, ErrInvalidClient) || strings.Contains(err.Error(), sec) {
		t.Fatalf("refresh error: %v", err)
	}
	if err := c.Revoke(context.Background(), secret.New("rt-0123456789"), "refresh_token"); err == nil || strings.Contains(err.Error(), sec) {
		t.Fatalf("revoke error: %v", err)
	}
	for _, f := range forms {
		if f.Get("client_secret") != sec || f.Get("client_id") != "conf" {
			t.Fatalf("form without the client secret: %v", f.Get("client_id"))
		}
	}
	public := &Client{ClientID: "pub", Metadata: md}
	forms = nil
	_, _ = public.Refresh(context.Background(), secret.New("rt-0123456789"))
	if len(forms) != 1 || forms[0].Has("client_secret") {
		t.Fatal("a public client sent a client_secret")
	}
}
