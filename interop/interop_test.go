package interop

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/interop/internal/zlogin"
)

// TestInteropZitadel drives the whole chain against the zitadel/oidc
// example OpenID provider, with the real relay and backend binaries:
//
//   - discovery: the provider serves only OIDC discovery, so the relay's
//     RFC 8414 request fails and it falls back;
//   - login: PKCE (S256), the loopback redirect on a random port, the
//     provider's own login page, the code exchange;
//   - the backend in JWKS mode validates the provider's JWT access token
//     (RS256 with the example's key, ES256 with a P-256 key);
//   - a second call reuses the token; a second relay process with an
//     expired token refreshes once, and the refresh token rotates;
//   - logout revokes the refresh token at the provider and empties the
//     vault.
func TestInteropZitadel(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) { testChain(t, alg) })
	}
}

func testChain(t *testing.T, alg string) {
	z := startOP(t, alg)
	backendURL := startBackend(t, z.URL, relayClientID)
	e := newRelayEnv(t, z, backendURL)
	mark := z.mark() // the backend's own discovery is done

	// 1. First use: discovery, login in the browser, code exchange.
	s := e.start()
	checkWhoami(t, s, z)
	if e.opens() != 1 || z.codes.Load() != 1 || z.refreshes.Load() != 0 {
		t.Fatalf("first use: %d browser opens, %d code exchanges, %d refreshes; browser log:\n%s",
			e.opens(), z.codes.Load(), z.refreshes.Load(), e.browserLog())
	}
	// The relay asked for RFC 8414 metadata (404 here), then fell back to
	// OIDC discovery, before it sent the browser to /auth.
	if got := z.pathsSince(mark); !inOrder(got, "GET /.well-known/oauth-authorization-server",
		"GET /.well-known/openid-configuration", "GET /auth", "POST /oauth/token") {
		t.Fatalf("want RFC 8414, OIDC discovery, /auth, token; the provider saw after the backend started:\n%s", strings.Join(got, "\n"))
	}
	auths := z.authRequests()
	if len(auths) != 1 {
		t.Fatalf("%d authorization requests, want 1", len(auths))
	}
	a := auths[0]
	if a.Get("code_challenge_method") != "S256" || a.Get("code_challenge") == "" || a.Get("client_id") != relayClientID {
		t.Fatalf("authorization request lacks PKCE S256 or client_id: %v", redactQuery(a))
	}
	if ru, err := url.Parse(a.Get("redirect_uri")); err != nil || ru.Scheme != "http" || ru.Hostname() != "127.0.0.1" ||
		ru.Port() == "" || ru.Path != "/callback" {
		t.Fatalf("redirect_uri %q: want http://127.0.0.1:PORT/callback", a.Get("redirect_uri"))
	}
	for _, f := range z.tokenForms() {
		if f.Get("grant_type") == "authorization_code" && (f.Get("code_verifier") == "" || f.Get("redirect_uri") != a.Get("redirect_uri")) {
			t.Fatalf("code exchange lacks code_verifier or the same redirect_uri")
		}
	}
	access1, refresh1 := e.stored()
	if refresh1 == "" {
		t.Fatal("no refresh token stored (scope offline_access)")
	}
	if h := testkit.PeekJWT(t, access1, 0); h["alg"] != alg {
		t.Fatalf("access token alg %v, want %s", h["alg"], alg)
	}

	// 2. A second call reuses the token: no browser, no token request.
	checkWhoami(t, s, z)
	if e.opens() != 1 || z.codes.Load() != 1 || z.refreshes.Load() != 0 {
		t.Fatalf("reuse: %d opens, %d code exchanges, %d refreshes", e.opens(), z.codes.Load(), z.refreshes.Load())
	}
	_ = s.Close()

	// 3. The token expires; a new relay process refreshes it, once, and
	// stores the rotated refresh token.
	e.expireStored()
	s2 := e.start()
	checkWhoami(t, s2, z)
	if e.opens() != 1 || z.codes.Load() != 1 || z.refreshes.Load() != 1 {
		t.Fatalf("refresh: %d opens, %d code exchanges, %d refreshes", e.opens(), z.codes.Load(), z.refreshes.Load())
	}
	access2, refresh2 := e.stored()
	if refresh2 == "" || refresh2 == refresh1 {
		t.Fatalf("refresh token did not rotate (empty: %v, same: %v)", refresh2 == "", refresh2 == refresh1)
	}
	if access2 == access1 {
		t.Fatal("access token did not change on refresh")
	}
	_ = s2.Close()

	// 4. Logout revokes at the provider and wipes the vault.
	_, stderr, code := e.Run(t, "logout")
	if code != 0 {
		t.Fatalf("logout exit %d:\n%s", code, stderr)
	}
	if z.revokes.Load() != 1 {
		t.Fatalf("logout sent %d revocation requests, want 1:\n%s", z.revokes.Load(), stderr)
	}
	// The provider no longer knows the refresh token.
	if tok, err := refreshDirect(z, refresh2); err == nil {
		t.Fatalf("refresh token still works after logout (got a token of %d bytes)", len(tok.AccessToken))
	}
	out, serr, code := e.Run(t, "status", "--json") // signed out: exit 1, and the JSON all the same
	var st struct {
		LoggedIn *bool `json:"logged_in"`
	}
	if code != 1 || json.Unmarshal([]byte(out), &st) != nil || st.LoggedIn == nil || *st.LoggedIn {
		t.Fatalf("status after logout: exit %d, stdout %q, stderr:\n%s", code, out, serr)
	}
	t.Logf("logout said:\n%s", stderr)
}

// checkWhoami calls whoami through the relay and checks it names the
// provider's user, the provider as issuer and the relay's client id.
func checkWhoami(t *testing.T, s *testkit.Session, z *zop) {
	t.Helper()
	text, isErr := s.Call(t, "whoami", nil)
	if isErr {
		t.Fatalf("whoami failed: %s\nrelay stderr:\n%s", text, s.Stderr.String())
	}
	var who struct {
		Subject, Issuer string
		ClientID        string `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(text), &who); err != nil {
		t.Fatalf("whoami answer %q: %v", text, err)
	}
	if who.Subject != opSubject || who.Issuer != z.URL || who.ClientID != relayClientID {
		t.Fatalf("whoami = %+v, want subject %q, issuer %q, client_id %q", who, opSubject, z.URL, relayClientID)
	}
}

// TestBackendRefusesForeignTokens checks that the backend, trusting the
// provider and expecting aud = the relay's client id, refuses an access
// token the same provider signed for another client, and the provider's ID
// token for the relay's own client (same iss and aud: B20), which only its
// ID-token claims tell apart.
func TestBackendRefusesForeignTokens(t *testing.T) {
	z := startOP(t, "RS256")
	backendURL := startBackend(t, z.URL, relayClientID)

	mine := loginDirect(t, z, relayClientID)
	if code, _, body := callBackend(t, backendURL, "whoami", mine.AccessToken); code != http.StatusOK {
		t.Fatalf("control: the relay client's own access token got %d: %s", code, body)
	}
	idToken, _ := mine.Extra("id_token").(string)
	if idToken == "" {
		t.Fatal("the provider sent no ID token; the check below would prove nothing")
	}

	if code, challenge, body := callBackend(t, backendURL, "whoami", idToken); code != http.StatusUnauthorized || !strings.Contains(challenge, `error="invalid_token"`) {
		t.Fatalf("B20: the provider's ID token was accepted as an access token: %d %s", code, body)
	}

	other := loginDirect(t, z, otherClientID)
	code, challenge, body := callBackend(t, backendURL, "whoami", other.AccessToken)
	if code != http.StatusUnauthorized || !strings.Contains(challenge, `error="invalid_token"`) ||
		!strings.Contains(challenge, "wrong audience") {
		t.Fatalf("another client's access token: %d %q %s, want 401 invalid_token, wrong audience", code, challenge, body)
	}
	t.Logf("another client's access token: %d, WWW-Authenticate: %s", code, challenge)

}

// oauthConfig is a public client of the provider.
func oauthConfig(z *zop, clientID, redirect string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    clientID,
		Endpoint:    oauth2.Endpoint{AuthURL: z.URL + "/auth", TokenURL: z.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: redirect,
		Scopes:      []string{"openid", "offline_access"},
	}
}

// loginDirect runs the code flow with PKCE for clientID in the test
// process (zlogin plays the browser and stops at the redirect) and
// returns the token response.
func loginDirect(t *testing.T, z *zop, clientID string) *oauth2.Token {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := oauthConfig(z, clientID, "http://127.0.0.1:1/callback") // never fetched
	verifier := oauth2.GenerateVerifier()
	state := oauth2.GenerateVerifier()
	res, err := zlogin.Login(ctx, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), z.User, opPassword, false)
	if err != nil {
		t.Fatalf("login as %s: %v", clientID, err)
	}
	q := res.Final.Query()
	if q.Get("state") != state || q.Get("code") == "" {
		t.Fatalf("redirect for %s: state matches %v, code present %v, error %q", clientID,
			q.Get("state") == state, q.Get("code") != "", q.Get("error"))
	}
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange for %s: %v", clientID, err)
	}
	return tok
}

// refreshDirect redeems a refresh token of the relay's client.
func refreshDirect(z *zop, refresh string) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := oauthConfig(z, relayClientID, "")
	return cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh, Expiry: time.Now().Add(-time.Hour)}).Token()
}

// redactQuery drops values that are secrets or noise from a logged query.
func redactQuery(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		switch k {
		case "code_challenge", "state", "nonce":
			out[k] = []string{"…"}
		default:
			out[k] = vs
		}
	}
	return out
}
