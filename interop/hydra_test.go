package interop

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/interop/internal/zlogin"
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
	e := &relayEnv{RelayEnv: testkit.NewRelayEnv(t), t: t, issuer: h.Issuer, backend: backendURL}
	e.browseLog = filepath.Join(e.Home, "browser.log")
	for k, v := range map[string]string{
		"RELAY_AUTH_SERVER_URL": h.Issuer, "RELAY_BACKEND_URL": backendURL, "RELAY_CLIENT_ID": relayClientID,
		"RELAY_SCOPES": hydraScopes, "RELAY_LOGIN_TIMEOUT": "30s",
		"RELAY_AUTHORIZE_PARAMS": "audience=" + hydraAudience,
		"BROWSER":                zbrowser(t), "ZBROWSER_USER": hydraUser, "ZBROWSER_PASSWORD": hydraPassword, "ZBROWSER_LOG": e.browseLog,
	} {
		e.Vars[k] = v
	}

	// 1. First use: discovery, login in the browser, code exchange.
	s := e.start()
	checkHydraWhoami(t, s, h)
	if e.opens() != 1 || h.codes.Load() != 1 || h.refreshes.Load() != 0 {
		t.Fatalf("first use: %d browser opens, %d code exchanges, %d refreshes; browser log:\n%s",
			e.opens(), h.codes.Load(), h.refreshes.Load(), e.browserLog())
	}
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
	access1, refresh1 := e.stored()
	if refresh1 == "" {
		t.Fatal("no refresh token stored (scope offline_access)")
	}
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

	// 2. A second call reuses the token: no browser, no token request.
	checkHydraWhoami(t, s, h)
	if e.opens() != 1 || h.codes.Load() != 1 || h.refreshes.Load() != 0 {
		t.Fatalf("reuse: %d opens, %d code exchanges, %d refreshes", e.opens(), h.codes.Load(), h.refreshes.Load())
	}
	_ = s.Close()

	// 3. The token expires; a new relay process refreshes it, once, and
	// stores the rotated refresh token.
	e.expireStored()
	s2 := e.start()
	checkHydraWhoami(t, s2, h)
	if e.opens() != 1 || h.codes.Load() != 1 || h.refreshes.Load() != 1 {
		t.Fatalf("refresh: %d opens, %d code exchanges, %d refreshes", e.opens(), h.codes.Load(), h.refreshes.Load())
	}
	access2, refresh2 := e.stored()
	if refresh2 == "" || refresh2 == refresh1 {
		t.Fatalf("refresh token did not rotate (empty: %v, same: %v)", refresh2 == "", refresh2 == refresh1)
	}
	if access2 == access1 {
		t.Fatal("access token did not change on refresh")
	}
	_ = s2.Close()
	if code, _, body := callBackend(t, backendURL, "whoami", access2); code != http.StatusOK {
		t.Fatalf("control: the current access token got %d before logout: %s", code, body)
	}

	// 4. Logout revokes at Hydra and wipes the vault.
	revokes := h.revokes.Load()
	_, stderr, code := e.Run(t, "logout")
	if code != 0 {
		t.Fatalf("logout exit %d:\n%s", code, stderr)
	}
	if h.revokes.Load() == revokes {
		t.Fatalf("logout sent no revocation request:\n%s", stderr)
	}
	if tok, err := hydraRefresh(h, refresh2); err == nil {
		t.Fatalf("refresh token still works after logout (got a token of %d bytes)", len(tok.AccessToken))
	}

	// 5. The old access token after the revocation.
	switch mode {
	case "opaque":
		// Refused at the very next call: the backend asked Hydra.
		code, challenge, body := callBackend(t, backendURL, "whoami", access2)
		if code != http.StatusUnauthorized || !strings.Contains(challenge, `error="invalid_token"`) {
			t.Fatalf("revoked opaque token: %d %q %s, want 401 invalid_token at once", code, challenge, body)
		}
	case "jwt":
		// Checked by its signature only, a JWT outlives its revocation
		// until exp; a backend that introspects every token refuses it
		// at once.
		if code, _, body := callBackend(t, backendURL, "whoami", access2); code != http.StatusOK {
			t.Fatalf("revoked JWT at the JWKS backend: %d %s; want 200 (no check with Hydra)", code, body)
		}
		all := hydraBackend(t, h, "all")
		code, challenge, body := callBackend(t, all, "whoami", access2)
		if code != http.StatusUnauthorized || !strings.Contains(challenge, `error="invalid_token"`) {
			t.Fatalf("revoked JWT with BACKEND_INTROSPECT_ALL=1: %d %q %s, want 401 invalid_token", code, challenge, body)
		}
	}
}

// checkHydraWhoami calls whoami through the relay and checks the User the
// backend saw: Hydra's subject and issuer, the relay's client id, the
// scopes granted. It is the same in both modes.
func checkHydraWhoami(t *testing.T, s *testkit.Session, h *hydra) {
	t.Helper()
	text, isErr := s.Call(t, "whoami", nil)
	if isErr {
		t.Fatalf("whoami failed: %s\nrelay stderr:\n%s", text, s.Stderr.String())
	}
	var who struct {
		Subject, Issuer string
		ClientID        string   `json:"client_id"`
		Scopes          []string `json:"scopes"`
	}
	if err := json.Unmarshal([]byte(text), &who); err != nil {
		t.Fatalf("whoami answer %q: %v", text, err)
	}
	slices.Sort(who.Scopes)
	want := strings.Fields(hydraScopes)
	slices.Sort(want)
	if who.Subject != hydraSubject || who.Issuer != h.Issuer || who.ClientID != relayClientID || !slices.Equal(who.Scopes, want) {
		t.Fatalf("whoami = %+v, want subject %q, issuer %q, client_id %q, scopes %v", who, hydraSubject, h.Issuer, relayClientID, want)
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

	mine := hydraLogin(t, h, hydraAudience)
	if code, _, body := callBackend(t, backendURL, "whoami", mine.AccessToken); code != http.StatusOK {
		t.Fatalf("control: a token for the backend's audience got %d: %s", code, body)
	}
	idToken, _ := mine.Extra("id_token").(string)
	if idToken == "" {
		t.Fatal("Hydra sent no ID token; the check below would prove nothing")
	}
	noAud := hydraLogin(t, h, "")
	for _, c := range []struct{ name, token, reason string }{
		{"no audience", noAud.AccessToken, "aud missing"},
		{"refresh token", mine.RefreshToken, "not an access token"},
		{"id token", idToken, ""},
	} {
		code, challenge, body := callBackend(t, backendURL, "whoami", c.token)
		if code != http.StatusUnauthorized || !strings.Contains(challenge, `error="invalid_token"`) ||
			!strings.Contains(challenge, c.reason) {
			t.Errorf("%s: %d %q %s, want 401 invalid_token %q", c.name, code, challenge, body, c.reason)
		}
	}
}

// hydraLogin runs the code flow with PKCE for the relay's client in the
// test process (zlogin plays the browser and stops at the redirect), with
// audience unless empty, and returns the token response.
func hydraLogin(t *testing.T, h *hydra, audience string) *oauth2.Token {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := hydraOAuth(h, "http://127.0.0.1:1/callback") // never fetched
	verifier := oauth2.GenerateVerifier()
	state := oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if audience != "" {
		opts = append(opts, oauth2.SetAuthURLParam("audience", audience))
	}
	res, err := zlogin.Login(ctx, cfg.AuthCodeURL(state, opts...), hydraUser, hydraPassword, false)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	q := res.Final.Query()
	if q.Get("state") != state || q.Get("code") == "" {
		t.Fatalf("redirect: state matches %v, code present %v, error %q", q.Get("state") == state, q.Get("code") != "", q.Get("error"))
	}
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

func hydraOAuth(h *hydra, redirect string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: relayClientID,
		Endpoint: oauth2.Endpoint{AuthURL: h.Issuer + "/oauth2/auth", TokenURL: h.Issuer + "/oauth2/token",
			AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: redirect,
		Scopes:      strings.Fields(hydraScopes),
	}
}

// hydraRefresh redeems a refresh token of the relay's client.
func hydraRefresh(h *hydra, refresh string) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return hydraOAuth(h, "").TokenSource(ctx, &oauth2.Token{RefreshToken: refresh, Expiry: time.Now().Add(-time.Hour)}).Token()
}
