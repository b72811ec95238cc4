package oauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// A client id and secret with characters that RFC 6749 §2.3.1 has
// form-urlencoded before they go into Basic credentials: a colon would
// otherwise split them in the wrong place.
const (
	confID     = "conf:client id"
	confSecret = "conf-secret:0123+456/789 é"
)

// TestClientAuthMethod: a client with a secret authenticates at the token,
// revocation and device authorization endpoints as its registration says,
// else as the metadata lists (client_secret_basic when it lists nothing or
// basic, client_secret_post when only that), and a public client sends its
// client_id only. Basic credentials are the form-urlencoded id and secret,
// with no client_id in the form; client_secret_post puts both in the form.
func TestClientAuthMethod(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret string
		method string   // Client.AuthMethod: the registration's
		listed []string // token_endpoint_auth_methods_supported
		want   string
	}{
		{"nothing listed: the RFC 6749 default", confSecret, "", nil, AuthBasic},
		{"basic listed", confSecret, "", []string{AuthPost, AuthBasic}, AuthBasic},
		{"only post listed", confSecret, "", []string{AuthPost, AuthNone}, AuthPost},
		{"only none listed", confSecret, "", []string{AuthNone}, AuthNone},
		{"only methods the relay lacks", confSecret, "", []string{"private_key_jwt"}, AuthBasic},
		{"registration says post", confSecret, AuthPost, []string{AuthBasic}, AuthPost},
		{"registration says basic", confSecret, AuthBasic, []string{AuthPost}, AuthBasic},
		{"registration says none", confSecret, AuthNone, nil, AuthNone},
		{"registration names an unknown method", confSecret, "tls_client_auth", []string{AuthPost}, AuthPost},
		{"public client", "", "", []string{AuthBasic}, AuthNone},
		{"public client told basic", "", AuthBasic, nil, AuthNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAS(t)
			f.md.TokenEndpointAuthMethodsSupported = tc.listed
			c := f.client()
			c.ClientID, c.ClientSecret, c.AuthMethod = confID, secret.New(tc.secret), tc.method
			_, err := c.Refresh(context.Background(), secret.New(fakeRefresh))
			testkit.NoErr(t, err, "refresh")
			testkit.NoErr(t, c.Revoke(context.Background(), secret.New(fakeRefresh), "refresh_token"), "revoke")
			_, err = c.StartDevice(context.Background())
			testkit.NoErr(t, err, "device authorization")
			reqs := append(append(f.requests("/token"), f.requests("/revoke")...), f.requests("/device_authorization")...)
			if len(reqs) != 3 {
				t.Fatalf("%d requests, want 3", len(reqs))
			}
			for _, r := range reqs {
				if got := methodOf(t, r); got != tc.want {
					t.Fatalf("%s: authenticated with %s, want %s", r.Path, got, tc.want)
				}
			}
		})
	}
}

// methodOf says how r authenticated, and checks that it did so properly.
func methodOf(t *testing.T, r recorded) string {
	t.Helper()
	auth := r.Header.Get("Authorization")
	switch {
	case auth != "":
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(auth, "Basic "))
		want := url.QueryEscape(confID) + ":" + url.QueryEscape(confSecret)
		if !strings.HasPrefix(auth, "Basic ") || err != nil || string(raw) != want {
			t.Fatalf("%s: Authorization is not Basic with the form-urlencoded id and secret", r.Path)
		}
		if r.Form.Has("client_secret") || r.Form.Has("client_id") {
			t.Fatalf("%s: Basic and the client in the form too", r.Path)
		}
		return AuthBasic
	case r.Form.Has("client_secret"):
		if r.Form.Get("client_secret") != confSecret || r.Form.Get("client_id") != confID {
			t.Fatalf("%s: client_secret_post without the client's id and secret", r.Path)
		}
		return AuthPost
	}
	if r.Form.Get("client_id") != confID {
		t.Fatalf("%s: no client_id", r.Path)
	}
	return AuthNone
}

// TestClientSecretNeverShown: a server that echoes the client's
// credentials back, in every form they went (as they are, form-urlencoded,
// as the Basic credentials), cannot carry them into an error or a log
// line, whichever method sent them.
func TestClientSecretNeverShown(t *testing.T) {
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(confID) + ":" + url.QueryEscape(confSecret)))
	shown := []string{confSecret, url.QueryEscape(confSecret), basic, "0123+456"}
	for _, method := range []string{AuthBasic, AuthPost} {
		t.Run(method, func(t *testing.T) {
			f := newFakeAS(t)
			f.override(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				echo := r.Header.Get("Authorization") + " " + r.PostForm.Get("client_secret") + " " +
					url.QueryEscape(confSecret) + " " + confSecret
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"bad credentials ` +
					strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(echo) + `"}`))
			}))
			var logs bytes.Buffer
			c := f.client()
			c.ClientID, c.ClientSecret, c.AuthMethod = confID, secret.New(confSecret), method
			c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			_, err := c.Refresh(context.Background(), secret.New(fakeRefresh))
			rerr := c.Revoke(context.Background(), secret.New(fakeRefresh), "refresh_token")
			_, derr := c.StartDevice(context.Background())
			if !errors.Is(err, ErrInvalidClient) || rerr == nil || derr == nil {
				t.Fatalf("errors: %v; %v; %v", err, rerr, derr)
			}
			for _, text := range []string{err.Error(), rerr.Error(), derr.Error(), logs.String()} {
				for _, s := range shown {
					if strings.Contains(text, s) {
						t.Fatalf("the client secret (%q) is shown in: %s", s, text)
					}
				}
			}
			if !strings.Contains(logs.String(), "method="+method) {
				t.Fatalf("the log does not say how the client authenticated:\n%s", logs.String())
			}
		})
	}
}
