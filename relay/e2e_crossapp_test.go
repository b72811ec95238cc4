package main

import (
	"crypto/rand"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/vault"
)

// This file is cross-app access (SEP-990) end to end with an ID token
// file: the real relay and backend binaries, the backend's built-in
// authorization server trusting a small identity provider of the test's
// own (OpenID discovery and a token exchange endpoint that checks the ID
// token and signs ID-JAGs), and the relay reading RELAY_IDP_ID_TOKEN_FILE
// at each use. interop/xaa_test.go has the browser sign-in at a real
// OpenID provider.

const (
	xaaIdPClient = "relay-at-idp"
	xaaUser      = "alice@corp.test"
)

// testIdP is the identity provider: OpenID discovery, and a token
// exchange that verifies the ID tokens it issued (its key, iss, aud =
// xaaIdPClient, exp) and answers with an ID-JAG for the MCP client,
// signed with the same key.
type testIdP struct {
	*testkit.IDJAGIssuer
	srv *httptest.Server
}

func startTestIdP(t *testing.T, mcpClient string) *testIdP {
	t.Helper()
	p := &testIdP{IDJAGIssuer: &testkit.IDJAGIssuer{T: t, Client: xaaIdPClient, MCPClient: mcpClient, Key: testkit.ECKey(t)}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/.well-known/openid-configuration":
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"issuer": p.srv.URL, "token_endpoint": p.srv.URL + "/token",
				"authorization_endpoint": p.srv.URL + "/authorize", "jwks_uri": p.srv.URL + "/jwks",
				"grant_types_supported": []string{"urn:ietf:params:oauth:grant-type:token-exchange"}})
		case r.URL.Path == "/token" && r.Method == http.MethodPost && r.ParseForm() == nil:
			p.Exchange(w, r.PostForm)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(p.srv.Close)
	p.Issuer = p.srv.URL
	p.Verify = func(idToken string) (string, error) {
		var c jwt.RegisteredClaims
		_, err := jwt.ParseWithClaims(idToken, &c, func(*jwt.Token) (any, error) { return &p.Key.PublicKey, nil },
			jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(p.srv.URL), jwt.WithAudience(xaaIdPClient), jwt.WithExpirationRequired())
		return c.Subject, err
	}
	return p
}

// idToken signs an ID token for xaaUser, valid for life (negative:
// expired).
func (p *testIdP) idToken(life time.Duration) string {
	now := time.Now()
	return testkit.SignJWT(p.T, jwt.SigningMethodES256, p.Key, "JWT", jwt.MapClaims{"iss": p.srv.URL, "sub": xaaUser, "aud": xaaIdPClient,
		"iat": now.Unix(), "exp": now.Add(life).Unix(), "nonce": rand.Text()})
}

// startCrossApp starts the identity provider and a backend that trusts
// it, and sets the relay to sign in with cross-app access as the machine
// client ci-secret, from the ID token in the returned file.
func startCrossApp(t *testing.T) (*testIdP, *ccSetup, string) {
	t.Helper()
	idp := startTestIdP(t, "ci-secret")
	s := startCC(t, "AUTH_TRUSTED_IDPS_FILE="+idp.TrustFile(""))
	delete(s.env.Vars, "RELAY_CLIENT_CREDENTIALS")
	tokenFile := filepath.Join(s.env.Home, "id_token")
	maps.Copy(s.env.Vars, map[string]string{"RELAY_IDP_ISSUER": idp.srv.URL, "RELAY_IDP_CLIENT_ID": xaaIdPClient,
		"RELAY_IDP_ID_TOKEN_FILE": tokenFile, "RELAY_CLIENT_ID": "ci-secret", "RELAY_CLIENT_SECRET": ccSecret})
	return idp, s, tokenFile
}

// TestCrossAppAccessTokenFile: the relay signs in with cross-app access
// from an ID token file, against the built-in authorization server;
// re-reads the file at each sign-in (a rotated token is used); names the
// file when its token expired, and the step and server when the identity
// provider refuses; writes no token, ID token, ID-JAG or secret
// anywhere; and leaves nothing after logout.
func TestCrossAppAccessTokenFile(t *testing.T) {
	idp, s, tokenFile := startCrossApp(t) // linux only: see startCC
	first := idp.idToken(time.Hour)
	testkit.NoErr(t, os.WriteFile(tokenFile, []byte(first+"\n"), 0o600))

	// 1. relay login: the exchange at the identity provider, the
	// jwt-bearer grant at the built-in server; the token is the person's.
	testkit.Contains(t, "relay login", s.run(t, 0, "login"), "relay: signed in as "+xaaUser)
	if subs, _ := idp.Seen(); len(subs) != 1 || subs[0] != first {
		t.Fatalf("the identity provider saw %d exchanges, want 1 with the file's ID token", len(subs))
	}
	st := s.run(t, 0, "status")
	testkit.Contains(t, "relay status", st, "sign-in:     cross-app access through "+idp.srv.URL, "idp:         signed in as "+xaaUser, "from RELAY_IDP_ID_TOKEN_FILE")
	t.Logf("relay status:\n%s", st)
	tokens := []string{s.token(t, "ci-secret")}

	// 2. The platform rotates the file; the secret is sealed in the vault.
	// When the access token expires, the relay exchanges again, from the
	// file as it is now.
	second := idp.idToken(time.Hour)
	testkit.NoErr(t, os.WriteFile(tokenFile, []byte(second), 0o600))
	delete(s.env.Vars, "RELAY_CLIENT_SECRET")
	s.expire(t, "ci-secret")
	sess := s.env.Serve(t, "", nil)
	if got := sess.MustCall(t, "whoami", nil); !strings.Contains(got, xaaUser) || !strings.Contains(got, "ci-secret") {
		t.Fatalf("whoami: %s", got)
	}
	_ = sess.Close()
	s.outputs = append(s.outputs, sess.Stderr.String())
	if subs, _ := idp.Seen(); len(subs) != 2 || subs[1] != second {
		t.Fatalf("after expiry: %d exchanges, want 2, the second with the rotated ID token", len(subs))
	}
	tokens = append(tokens, s.token(t, "ci-secret"))
	if tokens[1] == "" || tokens[1] == tokens[0] {
		t.Fatal("the expired access token was not replaced")
	}

	// 3. An expired ID token in the file: the error names the file.
	expired := idp.idToken(-time.Minute)
	testkit.NoErr(t, os.WriteFile(tokenFile, []byte(expired), 0o600))
	out := s.run(t, 3, "login", "--force")
	testkit.Contains(t, "login with an expired ID token", out, "RELAY_IDP_ID_TOKEN_FILE "+tokenFile+": the ID token expired")
	t.Logf("expired:\n%s", lastLines(out, 2))
	// 4. The identity provider refuses: the error names the server, the
	// step and the provider.
	testkit.NoErr(t, os.WriteFile(tokenFile, []byte(second), 0o600))
	idp.Refuse(1)
	out = s.run(t, 3, "login", "--force")
	testkit.Contains(t, "login refused by the identity provider", out,
		"cross-app access to "+s.url+": token exchange at the identity provider "+idp.srv.URL, "invalid_grant")
	t.Logf("refused:\n%s", lastLines(out, 2))

	// 5. Logout leaves nothing.
	testkit.Contains(t, "relay logout", s.run(t, 0, "logout"), "logged out")
	if _, err := os.Stat(filepath.Join(s.env.Dir, "tokens.age")); err == nil {
		t.Fatal("tokens.age is left after logout")
	}

	// Nothing secret anywhere: outputs, files, children's environments.
	_, jags := idp.Seen()
	s.noLeaks(t, append(append([]string{first, second, expired, ccSecret}, tokens...), jags...), tokenFile)
}

// TestCrossAppAccessPolicy: allowed_idp_issuers without the identity
// provider refuses the mode (exit 2, the rule's name), before any
// request; an empty list turns it off.
func TestCrossAppAccessPolicy(t *testing.T) {
	idp, s, tokenFile := startCrossApp(t)
	testkit.NoErr(t, os.WriteFile(tokenFile, []byte(idp.idToken(time.Hour)), 0o600))
	pol := filepath.Join(s.env.Home, "policy.json")
	s.env.Vars["RELAY_POLICY_FILE"] = pol
	for rule, want := range map[string]string{
		`{"allowed_idp_issuers": ["https://login.corp.test"]}`: "is not in allowed_idp_issuers",
		`{"allowed_idp_issuers": []}`:                          "cross-app access is turned off (allowed_idp_issuers is empty",
	} {
		testkit.NoErr(t, os.WriteFile(pol, []byte(rule), 0o600))
		s.env.Says(t, 2, "login", want)
	}
	if subs, _ := idp.Seen(); len(subs) != 0 {
		t.Fatalf("the identity provider got %d requests despite the policy", len(subs))
	}
	if _, err := s.vault(t).Get(t.Context(), vault.Account{Issuer: s.url, ClientID: "ci-secret", Resource: s.url}); err == nil {
		t.Fatal("a token was stored despite the policy")
	}
}
