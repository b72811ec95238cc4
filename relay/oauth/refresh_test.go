package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestC17_RefreshSendsResourceAndRotates(t *testing.T) {
	f := newFakeAS(t)
	c := f.client()
	tok, err := c.Refresh(context.Background(), secretOf(fakeRefresh))
	testkit.NoErr(t, err)
	got := f.requests("/token")[0]
	want := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fakeRefresh}, "client_id": {"relay"}, "resource": {resourceURL}}
	if got.Form.Encode() != want.Encode() {
		t.Fatalf("refresh form %v, want exactly %v", redactForm(got.Form), redactForm(want))
	}
	if got.Header.Get("Authorization") != "" {
		t.Fatal("Authorization header on refresh")
	}
	if !tok.RefreshToken.Equal(secretOf(fakeRotated)) || !tok.AccessToken.Equal(secretOf(fakeAccess+"-2")) {
		t.Fatal("rotated refresh token not returned")
	}
	if !tok.Expiry.Equal(fixedNow.Add(10*time.Minute)) || strings.Join(tok.Scopes, " ") != "notes:read notes:write" {
		t.Fatalf("expiry %v, scopes %v", tok.Expiry, tok.Scopes)
	}
}

func TestRefreshKeepsTokenWhenNotRotated(t *testing.T) {
	f := newFakeAS(t)
	f.setToken(func(url.Values) (int, string) {
		return 200, `{"access_token":"new","token_type":"Bearer","expires_in":60}`
	})
	tok, err := f.client().Refresh(context.Background(), secretOf(fakeRefresh))
	testkit.NoErr(t, err)
	if !tok.RefreshToken.Equal(secretOf(fakeRefresh)) {
		t.Fatal("the old refresh token was lost")
	}
}

func TestC16_RefreshInvalidGrant(t *testing.T) {
	f := newFakeAS(t)
	f.setToken(func(form url.Values) (int, string) {
		return 400, `{"error":"invalid_grant","error_description":"refresh token ` + form.Get("refresh_token") + ` was revoked"}`
	})
	_, err := f.client().Refresh(context.Background(), secretOf(fakeRefresh))
	var oe *Error
	if !errors.Is(err, ErrInvalidGrant) || !errors.As(err, &oe) || oe.Code != "invalid_grant" {
		t.Fatalf("err %v, want an *Error wrapping ErrInvalidGrant", err)
	}
	if has(err.Error(), fakeRefresh) {
		t.Fatal("the error echoes the refresh token")
	}
	f.wantRequests(t, "/token", 1, "Refresh must not retry")
	for _, code := range []string{"invalid_client", "invalid_request", "server_error"} {
		f.setToken(func(url.Values) (int, string) { return 400, `{"error":"` + code + `"}` })
		if _, err := f.client().Refresh(context.Background(), secretOf(fakeRefresh)); errors.Is(err, ErrInvalidGrant) || !errors.As(err, &oe) {
			t.Errorf("%s: %v", code, err)
		}
	}
}

func TestRefreshNeedsAToken(t *testing.T) {
	f := newFakeAS(t)
	testkit.WantIs(t, testkit.ErrOf(f.client().Refresh(context.Background(), secretOf(""))), ErrNoRefreshToken, "Refresh")
	testkit.WantIs(t, testkit.ErrOf((&Client{ClientID: "relay"}).Refresh(context.Background(), secretOf("x"))), ErrConfig, "no metadata")
	f.wantRequests(t, "/token", 0, "a request went out")
}

func TestRevoke(t *testing.T) {
	f := newFakeAS(t)
	c := f.client()
	testkit.NoErr(t, c.Revoke(context.Background(), secretOf(fakeRefresh), "refresh_token"))
	got := f.requests("/revoke")[0]
	want := url.Values{"token": {fakeRefresh}, "token_type_hint": {"refresh_token"}, "client_id": {"relay"}}
	if got.Form.Encode() != want.Encode() || got.Header.Get("Authorization") != "" || got.Method != "POST" {
		t.Fatalf("revocation request %s %v", got.Method, redactForm(got.Form))
	}
	f.mu.Lock()
	f.revStatus = 503
	f.mu.Unlock()
	testkit.WantIs(t, c.Revoke(context.Background(), secretOf(fakeRefresh), ""), ErrBadResponse, "503")
	c.Metadata.RevocationEndpoint = ""
	testkit.WantIs(t, c.Revoke(context.Background(), secretOf(fakeRefresh), ""), ErrNoRevocation, "no endpoint")
}

func TestRevokeIsBounded(t *testing.T) {
	f := newFakeAS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	block := make(chan struct{})
	defer close(block)
	f.override(httpBlock(block))
	start := time.Now()
	if err := f.client().Revoke(ctx, secretOf(fakeRefresh), ""); err == nil {
		t.Fatal("a hanging revocation succeeded")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("revocation was not bounded")
	}
}

// redactForm hides values in failure messages.
func redactForm(v url.Values) []string {
	var out []string
	for k := range v {
		out = append(out, k)
	}
	return out
}

// TestRefreshTransportFailures: a token request that gets no answer says
// why in plain words, the same for each way the server can be gone or
// slow: a refused connection and one closed under the request are both
// "unreachable", the client's timeout and the context's deadline are both
// "did not answer in time". Real loopback servers; no token in the text.
func TestRefreshTransportFailures(t *testing.T) {
	const unreachable, slow = "the authorization server is unreachable", "the authorization server did not answer in time"
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	closed := httptest.NewServer(nil)
	closed.Close()
	cases := []struct {
		name    string
		handler http.Handler // nil: the server is down
		timeout time.Duration
		ctx     time.Duration
		want    string
	}{
		{"refused", nil, 0, 0, unreachable},
		{"closed under the request", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}), 0, 0, unreachable},
		{"client timeout", httpBlock(block), 200 * time.Millisecond, 0, slow},
		{"context deadline", httpBlock(block), 0, 200 * time.Millisecond, slow},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAS(t)
			c := f.client()
			if tc.handler == nil {
				c.Metadata.TokenEndpoint = closed.URL + "/token"
			} else {
				f.override(tc.handler)
			}
			if tc.timeout > 0 {
				hc := *f.srv.Client()
				hc.Timeout = tc.timeout
				c.HTTP = &hc
			}
			ctx := context.Background()
			if tc.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctx)
				defer cancel()
			}
			_, err := c.Refresh(ctx, secretOf(fakeRefresh))
			if err == nil || !has(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if has(err.Error(), fakeRefresh) {
				t.Fatal("the error holds the refresh token")
			}
		})
	}
}
