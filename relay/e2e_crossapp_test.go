package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
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

// testIdP is the identity provider: it verifies the ID tokens it issued
// (its key, iss, aud = xaaIdPClient, exp) and answers a token exchange
// with an ID-JAG for the MCP client ccClient, signed with the same key.
type testIdP struct {
	t      *testing.T
	srv    *httptest.Server
	key    *ecdsa.PrivateKey
	client string // the MCP client the ID-JAGs name

	mu       sync.Mutex
	subjects []string // the ID tokens exchanged, in order
	jags     []string // the ID-JAGs issued
	refuse   bool     // answer invalid_grant
}

func startTestIdP(t *testing.T, mcpClient string) *testIdP {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	testkit.NoErr(t, err)
	p := &testIdP{t: t, key: key, client: mcpClient}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *testIdP) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/.well-known/openid-configuration":
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": p.srv.URL, "token_endpoint": p.srv.URL + "/token",
			"authorization_endpoint": p.srv.URL + "/authorize", "jwks_uri": p.srv.URL + "/jwks",
			"grant_types_supported": []string{"urn:ietf:params:oauth:grant-type:token-exchange"}})
	case r.URL.Path == "/token" && r.Method == http.MethodPost:
		p.exchange(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (p *testIdP) exchange(w http.ResponseWriter, r *http.Request) {
	fail := func(code string) {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": "refused by the test identity provider"})
	}
	if r.ParseForm() != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange" ||
		r.PostForm.Get("subject_token_type") != "urn:ietf:params:oauth:token-type:id_token" ||
		r.PostForm.Get("requested_token_type") != "urn:ietf:params:oauth:token-type:id-jag" ||
		r.PostForm.Get("audience") == "" || r.PostForm.Get("resource") == "" || r.PostForm.Get("client_id") != xaaIdPClient {
		fail("invalid_request")
		return
	}
	sub := r.PostForm.Get("subject_token")
	var c jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(sub, &c, func(*jwt.Token) (any, error) { return &p.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(p.srv.URL), jwt.WithAudience(xaaIdPClient), jwt.WithExpirationRequired())
	p.mu.Lock()
	defer p.mu.Unlock()
	p.subjects = append(p.subjects, sub)
	if err != nil || p.refuse {
		fail("invalid_grant")
		return
	}
	now := time.Now()
	jag := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": p.srv.URL, "sub": c.Subject,
		"aud": r.PostForm.Get("audience"), "client_id": p.client, "resource": r.PostForm.Get("resource"),
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": randomID(p.t)})
	jag.Header["typ"] = "oauth-id-jag+jwt"
	s, err := jag.SignedString(p.key)
	testkit.NoErr(p.t, err)
	p.jags = append(p.jags, s)
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": s, "token_type": "N_A",
		"issued_token_type": "urn:ietf:params:oauth:token-type:id-jag", "expires_in": 300})
}

func randomID(t *testing.T) string {
	b := make([]byte, 12)
	_, err := rand.Read(b)
	testkit.NoErr(t, err)
	return base64.RawURLEncoding.EncodeToString(b)
}

// idToken signs an ID token for xaaUser, valid for life (negative:
// expired).
func (p *testIdP) idToken(life time.Duration) string {
	now := time.Now()
	s, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": p.srv.URL, "sub": xaaUser, "aud": xaaIdPClient,
		"iat": now.Unix(), "exp": now.Add(life).Unix(), "nonce": randomID(p.t)}).SignedString(p.key)
	testkit.NoErr(p.t, err)
	return s
}

// jwks is the identity provider's public JWKS, for the backend's
// AUTH_TRUSTED_IDPS_FILE.
func (p *testIdP) trustFile(t *testing.T) string {
	t.Helper()
	ecdh, err := p.key.PublicKey.ECDH()
	testkit.NoErr(t, err)
	pt := ecdh.Bytes()
	b64 := base64.RawURLEncoding.EncodeToString
	b, _ := json.Marshal([]any{map[string]any{"issuer": p.srv.URL, "jwks": map[string]any{"keys": []any{
		map[string]string{"kty": "EC", "crv": "P-256", "x": b64(pt[1:33]), "y": b64(pt[33:]), "alg": "ES256", "use": "sig"}}}}})
	f := filepath.Join(t.TempDir(), "idps.json")
	testkit.NoErr(t, os.WriteFile(f, b, 0o600))
	return f
}

func (p *testIdP) seen() (subjects, jags []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.subjects...), append([]string(nil), p.jags...)
}

// TestCrossAppAccessTokenFile: the relay signs in with cross-app access
// from an ID token file, against the built-in authorization server;
// re-reads the file at each sign-in (a rotated token is used); names the
// file when its token expired, and the step and server when the identity
// provider refuses; writes no token, ID token, ID-JAG or secret
// anywhere; and leaves nothing after logout.
func TestCrossAppAccessTokenFile(t *testing.T) {
	if runtime.GOOS != "linux" {
		testkit.SkipOrFail(t, "the children's environments are read from /proc")
	}
	idp := startTestIdP(t, "ci-secret")
	s := startCCWith(t, "AUTH_TRUSTED_IDPS_FILE="+idp.trustFile(t))
	delete(s.env.Vars, "RELAY_CLIENT_CREDENTIALS")
	tokenFile := filepath.Join(s.env.Home, "id_token")
	first := idp.idToken(time.Hour)
	testkit.NoErr(t, os.WriteFile(tokenFile, []byte(first+"\n"), 0o600))
	for k, v := range map[string]string{"RELAY_IDP_ISSUER": idp.srv.URL, "RELAY_IDP_CLIENT_ID": xaaIdPClient,
		"RELAY_IDP_ID_TOKEN_FILE": tokenFile, "RELAY_CLIENT_ID": "ci-secret", "RELAY_CLIENT_SECRET": ccSecret} {
		s.env.Vars[k] = v
	}
	var outputs []string
	run := func(want int, args ...string) string {
		t.Helper()
		out, errOut, code := s.env.Run(t, args...)
		outputs = append(outputs, out, errOut)
		if code != want {
			t.Fatalf("relay %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out + errOut
	}

	// 1. relay login: the exchange at the identity provider, the
	// jwt-bearer grant at the built-in server; the token is the person's.
	if out := run(0, "login"); !strings.Contains(out, "relay: signed in as "+xaaUser) {
		t.Fatalf("relay login said:\n%s", out)
	}
	if subs, _ := idp.seen(); len(subs) != 1 || subs[0] != first {
		t.Fatalf("the identity provider saw %d exchanges, want 1 with the file's ID token", len(subs))
	}
	st := run(0, "status")
	if !strings.Contains(st, "sign-in:     cross-app access through "+idp.srv.URL) ||
		!strings.Contains(st, "idp:         signed in as "+xaaUser) || !strings.Contains(st, "from RELAY_IDP_ID_TOKEN_FILE") {
		t.Fatalf("relay status:\n%s", st)
	}
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
	outputs = append(outputs, sess.Stderr.String())
	if subs, _ := idp.seen(); len(subs) != 2 || subs[1] != second {
		t.Fatalf("after expiry: %d exchanges, want 2, the second with the rotated ID token", len(subs))
	}
	tokens = append(tokens, s.token(t, "ci-secret"))
	if tokens[1] == "" || tokens[1] == tokens[0] {
		t.Fatal("the expired access token was not replaced")
	}

	// 3. An expired ID token in the file: the error names the file.
	expired := idp.idToken(-time.Minute)
	testkit.NoErr(t, os.WriteFile(tokenFile, []byte(expired), 0o600))
	if out := run(3, "login", "--force"); !strings.Contains(out, "RELAY_IDP_ID_TOKEN_FILE "+tokenFile+": the ID token expired") {
		t.Fatalf("login with an expired ID token said:\n%s", out)
	} else {
		t.Logf("expired:\n%s", lastLines(out, 2))
	}
	// 4. The identity provider refuses: the error names the server, the
	// step and the provider.
	testkit.NoErr(t, os.WriteFile(tokenFile, []byte(second), 0o600))
	idp.mu.Lock()
	idp.refuse = true
	idp.mu.Unlock()
	out := run(3, "login", "--force")
	if !strings.Contains(out, "cross-app access to "+s.url+": token exchange at the identity provider "+idp.srv.URL) ||
		!strings.Contains(out, "invalid_grant") {
		t.Fatalf("login refused by the identity provider said:\n%s", out)
	}
	t.Logf("refused:\n%s", lastLines(out, 2))
	idp.mu.Lock()
	idp.refuse = false
	idp.mu.Unlock()

	// 5. Logout leaves nothing.
	if out := run(0, "logout"); !strings.Contains(out, "logged out") {
		t.Fatalf("relay logout said:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(s.env.Dir, "tokens.age")); err == nil {
		t.Fatal("tokens.age is left after logout")
	}

	// Nothing secret anywhere: outputs, files, children's environments.
	_, jags := idp.seen()
	secrets := append(append([]string{first, second, expired, ccSecret}, tokens...), jags...)
	var places []string
	for i, o := range outputs {
		places = append(places, leaks(o, secrets, "output "+string(rune('0'+i)))...)
	}
	for _, dir := range []string{s.env.Home, s.dumps} {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || p == tokenFile {
				return nil
			}
			b, _ := os.ReadFile(p)
			places = append(places, leaks(string(b), secrets, p)...)
			return nil
		})
	}
	dumps, _ := filepath.Glob(filepath.Join(s.dumps, "environ.*"))
	for _, p := range dumps {
		if b, _ := os.ReadFile(p); strings.Contains(string(b), "RELAY_CLIENT_SECRET=") {
			places = append(places, p+": RELAY_CLIENT_SECRET")
		}
	}
	if len(dumps) == 0 {
		t.Error("no child environment was recorded: the vault key command did not run")
	}
	if _, err := os.Stat(filepath.Join(s.dumps, "browser")); err == nil {
		t.Error("a browser was started with an ID token file")
	}
	if len(places) > 0 {
		t.Fatalf("secrets found in: %v", places)
	}
	t.Logf("searched %d values in %d outputs, the files under HOME and %d child environments", len(secrets), len(outputs), len(dumps))
}

// TestCrossAppAccessPolicy: allowed_idp_issuers without the identity
// provider refuses the mode (exit 2, the rule's name), before any
// request; an empty list turns it off.
func TestCrossAppAccessPolicy(t *testing.T) {
	idp := startTestIdP(t, "ci-secret")
	s := startCCWith(t, "AUTH_TRUSTED_IDPS_FILE="+idp.trustFile(t))
	delete(s.env.Vars, "RELAY_CLIENT_CREDENTIALS")
	tokenFile := filepath.Join(s.env.Home, "id_token")
	testkit.NoErr(t, os.WriteFile(tokenFile, []byte(idp.idToken(time.Hour)), 0o600))
	for k, v := range map[string]string{"RELAY_IDP_ISSUER": idp.srv.URL, "RELAY_IDP_CLIENT_ID": xaaIdPClient,
		"RELAY_IDP_ID_TOKEN_FILE": tokenFile, "RELAY_CLIENT_ID": "ci-secret", "RELAY_CLIENT_SECRET": ccSecret} {
		s.env.Vars[k] = v
	}
	pol := filepath.Join(s.env.Home, "policy.json")
	s.env.Vars["RELAY_POLICY_FILE"] = pol
	for rule, want := range map[string]string{
		`{"allowed_idp_issuers": ["https://login.corp.test"]}`: "is not in allowed_idp_issuers",
		`{"allowed_idp_issuers": []}`:                          "cross-app access is turned off (allowed_idp_issuers is empty",
	} {
		testkit.NoErr(t, os.WriteFile(pol, []byte(rule), 0o600))
		_, errOut, code := s.env.Run(t, "login")
		if code != 2 || !strings.Contains(errOut, want) {
			t.Fatalf("%s: exit %d, want 2 and %q:\n%s", rule, code, want, errOut)
		}
	}
	if subs, _ := idp.seen(); len(subs) != 0 {
		t.Fatalf("the identity provider got %d requests despite the policy", len(subs))
	}
	if _, err := s.vault(t).Get(t.Context(), vault.Account{Issuer: s.url, ClientID: "ci-secret", Resource: s.url}); err == nil {
		t.Fatal("a token was stored despite the policy")
	}
}
