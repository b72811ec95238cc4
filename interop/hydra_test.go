package interop

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestInteropHydra drives the whole chain against Ory Hydra v2.3.0, with
// the real relay and backend binaries, in both of Hydra's access-token
// formats:
//
//   - opaque (Hydra's default): the backend checks each token at Hydra's
//     admin introspection endpoint (RFC 7662), authenticating as its own
//     confidential client, with no cache;
//   - jwt (strategies.access_token=jwt): the backend checks the signature
//     with Hydra's JWKS.
//
// In both: Hydra serves only OIDC discovery; the relay sends Hydra's
// `audience` parameter from RELAY_AUTHORIZE_PARAMS (Hydra ignores RFC 8707
// `resource`), signs in through the test's login-and-consent app with
// zbrowser, refreshes once with rotation, and revokes at logout. After the
// logout, the old access token is refused at once with introspection; a
// JWT, checked by its signature only, still passes until it expires (the
// trade-off docs/backend.md names), and a backend that introspects every
// token (BACKEND_INTROSPECT_ALL=1) refuses it at once.
func TestInteropHydra(t *testing.T) {
	for _, mode := range []string{"opaque", "jwt"} {
		t.Run(mode, func(t *testing.T) { testHydraChain(t, mode) })
	}
}

func testHydraChain(t *testing.T, mode string) {
	h := startHydra(t, mode)
	check := "opaque" // the backend the relay calls
	if mode == "jwt" {
		check = "off"
	}
	backendURL := hydraBackend(t, h, check)
	e := newRelayEnv(t, h.Issuer, backendURL, hydraUser, hydraPassword, map[string]string{
		"RELAY_SCOPES": hydraScopes, "RELAY_AUTHORIZE_PARAMS": "audience=" + hydraAudience})
	whoami := func(s *testkit.Session) { checkWhoami(t, s, hydraSubject, h.Issuer, strings.Fields(hydraScopes)...) }

	// 1. First use: discovery, login in the browser, code exchange.
	s := e.start()
	whoami(s)
	e.want("first use", &h.counts, 1, 1, 0)
	auths := h.authRequests()
	if len(auths) == 0 {
		t.Fatal("no authorization request reached Hydra")
	}
	a := auths[0]
	if a.Get("audience") != hydraAudience || a.Get("code_challenge_method") != "S256" || a.Get("client_id") != relayClientID {
		t.Fatalf("authorization request: want audience %q (RELAY_AUTHORIZE_PARAMS), PKCE S256 and client_id; got %v",
			hydraAudience, redactQuery(a))
	}
	cs := h.consentRequests()
	if len(cs) != 1 || !slices.Equal(cs[0].Audience, []string{hydraAudience}) || cs[0].Subject != hydraSubject ||
		!slices.Contains(cs[0].Scopes, "offline_access") {
		t.Fatalf("consent requests %+v: want one for %s, audience %s, with offline_access", cs, hydraSubject, hydraAudience)
	}
	access1, _ := e.stored()
	switch mode {
	case "opaque":
		if strings.Count(access1, ".") == 2 {
			t.Fatal("Hydra issued a JWT-shaped access token in opaque mode; the introspection path is not tested")
		}
		if h.introspections.Load() == 0 {
			t.Fatal("the backend accepted an opaque token without asking Hydra")
		}
	case "jwt":
		if hd := testkit.PeekJWT(t, access1, 0); hd["alg"] != "RS256" {
			t.Fatalf("access token header %v, want an RS256 JWT", hd)
		}
		if cl := testkit.PeekJWT(t, access1, 1); !audHas(cl["aud"], hydraAudience) {
			t.Fatalf("access token aud %v, want %s", cl["aud"], hydraAudience)
		}
		if n := h.introspections.Load(); n != 0 {
			t.Fatalf("the JWKS backend made %d introspection requests", n)
		}
	}
	// The scope the relay asked for reaches a tool that needs it.
	if text, isErr := s.Call(t, "read_notes", nil); isErr {
		t.Fatalf("read_notes (scope notes:read) failed: %s", text)
	}

	// 2. A second call reuses the token; 3. the token expires, a new relay
	// process refreshes it.
	access2, refresh2 := e.reuseThenRefresh(s, &h.counts, whoami)
	wantWhoami(t, backendURL, access2, http.StatusOK, "", "control: the current access token before logout")

	// 4. Logout revokes at Hydra and wipes the vault.
	e.logoutRevokes(&h.counts, hydraOAuth(h), refresh2)

	// 5. The old access token after the revocation.
	switch mode {
	case "opaque":
		// Refused at the very next call: the backend asked Hydra.
		wantWhoami(t, backendURL, access2, http.StatusUnauthorized, "", "revoked opaque token, at once")
	case "jwt":
		// Checked by its signature only, a JWT outlives its revocation
		// until exp; a backend that introspects every token refuses it
		// at once.
		wantWhoami(t, backendURL, access2, http.StatusOK, "", "revoked JWT at the JWKS backend (no check with Hydra)")
		wantWhoami(t, hydraBackend(t, h, "all"), access2, http.StatusUnauthorized, "", "revoked JWT with BACKEND_INTROSPECT_ALL=1")
	}
}

// audHas reports whether a JWT's aud claim (a string or an array) holds v.
func audHas(aud any, v string) bool {
	switch a := aud.(type) {
	case string:
		return a == v
	case []any:
		return slices.Contains(a, any(v))
	}
	return false
}

// TestHydraRefusesForeignTokens checks the introspecting backend against
// tokens Hydra knows but that are not for it: a token without the
// backend's audience (the relay's client signing in without
// RELAY_AUTHORIZE_PARAMS), an ID token of the right client, and a refresh
// token. Each is refused with 401 invalid_token.
func TestHydraRefusesForeignTokens(t *testing.T) {
	h := startHydra(t, "opaque")
	backendURL := hydraBackend(t, h, "opaque")

	mine := loginDirect(t, hydraOAuth(h), hydraUser, hydraPassword, oauth2.SetAuthURLParam("audience", hydraAudience))
	wantWhoami(t, backendURL, mine.AccessToken, http.StatusOK, "", "control: a token for the backend's audience")
	idToken, _ := mine.Extra("id_token").(string)
	if idToken == "" {
		t.Fatal("Hydra sent no ID token; the check below would prove nothing")
	}
	noAud := loginDirect(t, hydraOAuth(h), hydraUser, hydraPassword)
	for _, c := range []struct{ name, token, reason string }{
		{"no audience", noAud.AccessToken, "aud missing"},
		{"refresh token", mine.RefreshToken, "not an access token"},
		{"id token", idToken, ""},
	} {
		wantWhoami(t, backendURL, c.token, http.StatusUnauthorized, c.reason, c.name)
	}
}

func hydraOAuth(h *hydra) *oauth2.Config {
	return &oauth2.Config{
		ClientID: relayClientID,
		Endpoint: oauth2.Endpoint{AuthURL: h.Issuer + "/oauth2/auth", TokenURL: h.Issuer + "/oauth2/token",
			AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: "http://127.0.0.1:1/callback", // never fetched: loginDirect stops at the redirect
		Scopes:      strings.Fields(hydraScopes),
	}
}
