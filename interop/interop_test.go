package interop

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/keyrelay/keyrelay/internal/testkit"
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
	e := newRelayEnv(t, z.URL, backendURL, z.User, opPassword, map[string]string{"RELAY_SCOPES": "openid offline_access"})
	mark := z.mark() // the backend's own discovery is done
	whoami := func(s *testkit.Session) { checkWhoami(t, s, opSubject, z.URL) }

	// 1. First use: discovery, login in the browser, code exchange.
	s := e.start()
	whoami(s)
	e.want("first use", &z.counts, 1, 1, 0)
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
	if access, _ := e.stored(); testkit.PeekJWT(t, access, 0)["alg"] != alg {
		t.Fatalf("access token alg %v, want %s", testkit.PeekJWT(t, access, 0)["alg"], alg)
	}

	// 2. A second call reuses the token; 3. the token expires, a new relay
	// process refreshes it.
	_, refresh := e.reuseThenRefresh(s, &z.counts, whoami)

	// 4. Logout revokes at the provider and wipes the vault.
	stderr := e.logoutRevokes(&z.counts, oauthConfig(z, relayClientID), refresh)
	var st struct {
		LoggedIn *bool `json:"logged_in"`
	}
	// Signed out: exit 1, and the JSON all the same.
	if out := e.Prints(t, 1, "status --json"); json.Unmarshal([]byte(out), &st) != nil || st.LoggedIn == nil || *st.LoggedIn {
		t.Fatalf("status --json after logout: %s", out)
	}
	t.Logf("logout said:\n%s", stderr)
}

// TestBackendRefusesForeignTokens checks that the backend, trusting the
// provider and expecting aud = the relay's client id, refuses an access
// token the same provider signed for another client, and the provider's ID
// token for the relay's own client (same iss and aud: B20), which only its
// ID-token claims tell apart.
func TestBackendRefusesForeignTokens(t *testing.T) {
	z := startOP(t, "RS256")
	backendURL := startBackend(t, z.URL, relayClientID)

	mine := loginDirect(t, oauthConfig(z, relayClientID), z.User, opPassword)
	wantWhoami(t, backendURL, mine.AccessToken, http.StatusOK, "", "control: the relay client's own access token")
	idToken, _ := mine.Extra("id_token").(string)
	if idToken == "" {
		t.Fatal("the provider sent no ID token; the check below would prove nothing")
	}

	wantWhoami(t, backendURL, idToken, http.StatusUnauthorized, "", "B20: the provider's ID token as an access token")
	other := loginDirect(t, oauthConfig(z, otherClientID), z.User, opPassword)
	ch := wantWhoami(t, backendURL, other.AccessToken, http.StatusUnauthorized, "wrong audience", "another client's access token")
	t.Logf("another client's access token: 401, WWW-Authenticate: %s", ch)
}

// oauthConfig is a public client of the provider.
func oauthConfig(z *zop, clientID string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    clientID,
		Endpoint:    oauth2.Endpoint{AuthURL: z.URL + "/auth", TokenURL: z.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: "http://127.0.0.1:1/callback", // never fetched: loginDirect stops at the redirect
		Scopes:      []string{"openid", "offline_access"},
	}
}
