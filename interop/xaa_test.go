package interop

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/login"
	"github.com/keyrelay/keyrelay/vault"
)

// Cross-app access (SEP-990) with a browser sign-in at a real OpenID
// provider: the zitadel/oidc example OP is the enterprise identity
// provider. It has no token exchange for ID-JAGs, so the test puts an
// endpoint of its own in front of the OP's token endpoint, on the same
// origin: a POST with grant_type token-exchange is answered there (the
// OP's ID token checked with the OP's key, an ID-JAG signed with a key of
// the test's), everything else goes to the OP. The MCP side is the real
// backend binary with its built-in authorization server, trusting the
// OP's issuer with that key (AUTH_TRUSTED_IDPS_FILE: a jwks_uri the test
// serves on the OP's origin, or the key inline), and a machine
// client for the relay. So the whole chain runs on real parts: the OP's
// login page (zbrowser), its code exchange with PKCE, its refresh and
// revocation; the relay's vault in a private Secret Service; the
// built-in server's jwt-bearer grant.

const (
	xaaClient = "mcp-client"                    // the relay's machine client at the built-in server
	xaaSecret = "xaa-interop-secret-9d41c07e2b" // its secret
)

// xop is the OP with the token exchange endpoint in front.
type xop struct {
	*zop
	idKey  *ecdsa.PublicKey  // the OP's ID token key
	jagKey *ecdsa.PrivateKey // the test's ID-JAG key
	mu     sync.Mutex
	jags   []string // ID-JAGs issued
	subs   []string // ID tokens exchanged
	refuse int      // answer invalid_grant to this many more exchanges

	keyFetches atomic.Int64 // GET /xaa-keys
}

func startXAA(t *testing.T) *xop {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	clients := map[string]*storage.Client{relayClientID: storage.NativeClient(relayClientID, "http://127.0.0.1/callback")}
	st := &jwtStorage{Storage: storage.NewStorageWithClients(storage.NewUserStore(issuer), clients)}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	testkit.NoErr(t, err)
	st.ec = &ecKey{id: "ec-xaa", key: k}
	jk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	testkit.NoErr(t, err)
	x := &xop{zop: &zop{URL: issuer, User: "test-user@127.0.0.1"}, idKey: &k.PublicKey, jagKey: jk}
	srv.Config.Handler = x.front(t, x.spy(exampleop.SetupServer(issuer, st, nil, false)))
	srv.Start()
	t.Cleanup(srv.Close)
	return x
}

// front answers token exchanges and serves the ID-JAG key's JWKS at
// /xaa-keys; the rest goes to next.
func (x *xop) front(t *testing.T, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/xaa-keys" {
			x.keyFetches.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(x.jagJWKS(t))
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/oauth/token" {
			next.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<16))
		form, _ := url.ParseQuery(string(body))
		if form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange" {
			r.Body = io.NopCloser(bytes.NewReader(body))
			next.ServeHTTP(w, r)
			return
		}
		x.exchange(w, form)
	})
}

func (x *xop) exchange(w http.ResponseWriter, form url.Values) {
	w.Header().Set("Content-Type", "application/json")
	fail := func(code, desc string) {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if form.Get("subject_token_type") != "urn:ietf:params:oauth:token-type:id_token" ||
		form.Get("requested_token_type") != "urn:ietf:params:oauth:token-type:id-jag" ||
		form.Get("client_id") != relayClientID || form.Get("audience") == "" || form.Get("resource") == "" {
		fail("invalid_request", "not an ID-JAG token exchange")
		return
	}
	sub, err := x.verifyIDToken(form.Get("subject_token"))
	x.mu.Lock()
	defer x.mu.Unlock()
	x.subs = append(x.subs, form.Get("subject_token"))
	if x.refuse > 0 {
		x.refuse--
		fail("invalid_grant", "the ID token is no longer accepted")
		return
	}
	if err != nil {
		fail("invalid_grant", err.Error())
		return
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: x.jagKey}, (&jose.SignerOptions{}).WithType("oauth-id-jag+jwt"))
	if err != nil {
		fail("server_error", "signer")
		return
	}
	now := time.Now()
	jti := make([]byte, 12)
	_, _ = rand.Read(jti)
	claims, _ := json.Marshal(map[string]any{"iss": x.URL, "sub": sub, "aud": form.Get("audience"), "client_id": xaaClient,
		"resource": form.Get("resource"), "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"jti": base64.RawURLEncoding.EncodeToString(jti)})
	jws, err := signer.Sign(claims)
	if err != nil {
		fail("server_error", "sign")
		return
	}
	jag, _ := jws.CompactSerialize()
	x.jags = append(x.jags, jag)
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": jag, "token_type": "N_A",
		"issued_token_type": "urn:ietf:params:oauth:token-type:id-jag", "expires_in": 300})
}

// verifyIDToken checks the OP's ID token for the relay's client: the
// OP's signature, iss, aud and exp; it returns sub.
func (x *xop) verifyIDToken(tok string) (string, error) {
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return "", errors.New("not a signed JWT")
	}
	payload, err := jws.Verify(x.idKey)
	if err != nil {
		return "", errors.New("bad signature")
	}
	var c struct {
		Iss, Sub string
		Aud      any
		Exp      float64
	}
	if json.Unmarshal(payload, &c) != nil {
		return "", errors.New("bad claims")
	}
	aud := c.Aud == relayClientID
	if l, ok := c.Aud.([]any); ok {
		aud = slices.Contains(l, any(relayClientID))
	}
	if c.Iss != x.URL || !aud || time.Now().After(time.Unix(int64(c.Exp), 0)) || c.Sub == "" {
		return "", errors.New("wrong iss, aud or exp")
	}
	return c.Sub, nil
}

func (x *xop) seen() (subs, jags []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Clone(x.subs), slices.Clone(x.jags)
}

// jagJWKS is the ID-JAG key's public JWKS.
func (x *xop) jagJWKS(t *testing.T) []byte {
	ecdh, err := x.jagKey.PublicKey.ECDH()
	testkit.NoErr(t, err)
	pt := ecdh.Bytes()
	b64 := base64.RawURLEncoding.EncodeToString
	b, _ := json.Marshal(map[string]any{"keys": []any{
		map[string]string{"kty": "EC", "crv": "P-256", "x": b64(pt[1:33]), "y": b64(pt[33:]), "alg": "ES256", "use": "sig"}}})
	return b
}

// trustFile is the backend's AUTH_TRUSTED_IDPS_FILE: the OP's issuer with
// the ID-JAG key, as its jwks_uri or inline.
func (x *xop) trustFile(t *testing.T, byURI bool) string {
	idp := map[string]any{"issuer": x.URL, "jwks": json.RawMessage(x.jagJWKS(t))}
	if byURI {
		idp = map[string]any{"issuer": x.URL, "jwks_uri": x.URL + "/xaa-keys"}
	}
	b, _ := json.Marshal([]any{idp})
	f := filepath.Join(t.TempDir(), "idps.json")
	testkit.NoErr(t, os.WriteFile(f, b, 0o600))
	return f
}

// startXAABackend runs the backend binary with its built-in server, the
// relay's machine client and the OP as trusted identity provider.
func startXAABackend(t *testing.T, x *xop, byURI bool) string {
	t.Helper()
	clients, _ := json.Marshal([]any{map[string]any{"client_id": xaaClient, "client_secret": xaaSecret,
		"scopes": []string{"notes:read", "notes:write"}}})
	f := filepath.Join(t.TempDir(), "machines.json")
	testkit.NoErr(t, os.WriteFile(f, clients, 0o600))
	addr := testkit.FreeAddr(t)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "BACKEND_ADDR=" + addr, "BACKEND_AUTH_SERVER=1",
		"AUTH_MACHINE_CLIENTS_FILE=" + f, "AUTH_TRUSTED_IDPS_FILE=" + x.trustFile(t, byURI), "BACKEND_LOG_LEVEL=debug"}
	testkit.StartDaemon(t, testkit.Backend(t), env).WaitHealthy(t, "http://"+addr+"/healthz")
	return "http://" + addr
}

// TestInteropCrossAppAccess: the person signs in once, in the browser,
// at the OP; two MCP servers (two backends with their own authorization
// servers) get tokens for that person from the one session, with no
// consent page; an expired access token is replaced by a new exchange;
// an ID token the provider no longer accepts is replaced by a refresh at
// the OP, not a second sign-in; logout revokes the OP's refresh token and
// leaves nothing; no token, ID token, ID-JAG or secret is written
// anywhere.
func TestInteropCrossAppAccess(t *testing.T) {
	x := startXAA(t)
	// The first trusts the ID-JAG key through a jwks_uri, the second has
	// it inline.
	one, two := startXAABackend(t, x, true), startXAABackend(t, x, false)
	e := &relayEnv{RelayEnv: testkit.NewRelayEnv(t), t: t, issuer: one, backend: one}
	e.browseLog = filepath.Join(e.Home, "browser.log")
	for k, v := range map[string]string{
		"RELAY_BACKEND_URL": one, "RELAY_IDP_ISSUER": x.URL, "RELAY_IDP_CLIENT_ID": relayClientID,
		"RELAY_CLIENT_ID": xaaClient, "RELAY_CLIENT_SECRET": xaaSecret, "RELAY_LOGIN_TIMEOUT": "30s",
		"BROWSER": zbrowser(t), "ZBROWSER_USER": x.User, "ZBROWSER_PASSWORD": opPassword, "ZBROWSER_LOG": e.browseLog,
	} {
		e.Vars[k] = v
	}
	var outputs []string
	whoami := func(backend string) {
		t.Helper()
		s := e.Serve(t, "2025-06-18", nil, "RELAY_BACKEND_URL="+backend)
		text, isErr := s.Call(t, "whoami", nil)
		_ = s.Close()
		outputs = append(outputs, s.Stderr.String(), text)
		var who struct{ Subject, Issuer string }
		if isErr || json.Unmarshal([]byte(text), &who) != nil || who.Subject != opSubject || who.Issuer != backend {
			t.Fatalf("whoami at %s: %s\nrelay stderr:\n%s\nbrowser:\n%s", backend, text, s.Stderr.String(), e.browserLog())
		}
	}

	// 1. First call: the sign-in at the OP in the browser (PKCE, its login
	// page, scope openid), the exchange, the jwt-bearer grant.
	whoami(one)
	subs, _ := x.seen()
	if e.opens() != 1 || x.codes.Load() != 1 || len(subs) != 1 {
		t.Fatalf("first call: %d browser opens, %d code exchanges, %d token exchanges", e.opens(), x.codes.Load(), len(subs))
	}
	a := x.authRequests()
	if len(a) != 1 || a[0].Get("code_challenge_method") != "S256" || !strings.Contains(a[0].Get("scope"), "openid") ||
		a[0].Get("client_id") != relayClientID || a[0].Get("resource") != "" {
		t.Fatalf("the OP's authorization request: %v", redactQuery(a[0]))
	}
	// The session is in the vault, once for every server.
	v, err := vault.Open(context.Background(), vault.Options{Dir: e.Dir, KeySpec: "file:" + e.KeyFile})
	testkit.NoErr(t, err)
	idp := login.IdPAccount(x.URL, relayClientID)
	sess, err := v.Get(context.Background(), idp)
	if err != nil || sess.IDToken.IsZero() {
		t.Fatalf("no identity provider session in the vault: %v", err)
	}
	secrets := []string{xaaSecret, sess.IDToken.Reveal(), sess.AccessToken.Reveal(), sess.RefreshToken.Reveal()}

	if x.keyFetches.Load() != 1 {
		t.Fatalf("the first backend fetched its jwks_uri %d times, want 1", x.keyFetches.Load())
	}

	// 2. A second MCP server: no new sign-in, one more exchange.
	whoami(two)
	if subs, _ = x.seen(); e.opens() != 1 || x.codes.Load() != 1 || len(subs) != 2 {
		t.Fatalf("second server: %d browser opens, %d code exchanges, %d token exchanges", e.opens(), x.codes.Load(), len(subs))
	}

	// 3. The first server's access token expires: exchange again, from the
	// session, with no sign-in.
	acct := vault.Account{Issuer: one, ClientID: xaaClient, Resource: one}
	rec, err := v.Get(context.Background(), acct)
	testkit.NoErr(t, err)
	secrets = append(secrets, rec.AccessToken.Reveal())
	e.expireAt(v, acct)
	whoami(one)
	if subs, _ = x.seen(); e.opens() != 1 || len(subs) != 3 || subs[2] != sess.IDToken.Reveal() {
		t.Fatalf("after expiry: %d opens, %d exchanges (the session's ID token: %v)", e.opens(), len(subs), subs[len(subs)-1] == sess.IDToken.Reveal())
	}

	// 4. The provider no longer accepts the ID token: the relay refreshes
	// at the OP (no browser) and exchanges the new one.
	x.mu.Lock()
	x.refuse = 1
	x.mu.Unlock()
	e.expireAt(v, acct)
	whoami(one)
	subs, _ = x.seen()
	if e.opens() != 1 || x.refreshes.Load() != 1 || len(subs) != 5 || subs[4] == sess.IDToken.Reveal() {
		t.Fatalf("after a refused ID token: %d opens, %d refreshes at the OP, %d exchanges", e.opens(), x.refreshes.Load(), len(subs))
	}
	sess2, err := v.Get(context.Background(), idp)
	testkit.NoErr(t, err)
	secrets = append(secrets, sess2.IDToken.Reveal(), sess2.RefreshToken.Reveal(), sess2.AccessToken.Reveal())

	// 4b. Neither the ID token nor the refresh token is good any more (the
	// OP refuses a refresh token it never issued): the person signs in
	// again, in the browser, once.
	testkit.NoErr(t, v.Update(context.Background(), idp, func(r *vault.Record) (*vault.Record, error) {
		r.RefreshToken = secret.New("fake-refresh-token-the-op-never-issued")
		return r, nil
	}))
	x.mu.Lock()
	x.refuse = 1
	x.mu.Unlock()
	e.expireAt(v, acct)
	whoami(one)
	if subs, _ = x.seen(); e.opens() != 2 || x.codes.Load() != 2 || len(subs) != 7 {
		t.Fatalf("after a refused ID token and a dead refresh token: %d opens, %d code exchanges, %d token exchanges", e.opens(), x.codes.Load(), len(subs))
	}
	sess2, err = v.Get(context.Background(), idp)
	testkit.NoErr(t, err)
	secrets = append(secrets, sess2.IDToken.Reveal(), sess2.RefreshToken.Reveal(), sess2.AccessToken.Reveal())

	// 5. Status shows the session.
	out, serr, code := e.Run(t, "status")
	outputs = append(outputs, out, serr)
	if code != 0 || !strings.Contains(out, "cross-app access through "+x.URL) || !strings.Contains(out, "idp:         signed in as "+opSubject) {
		t.Fatalf("status: exit %d\n%s%s", code, out, serr)
	}

	// 6. Logout revokes the OP's refresh token and wipes everything.
	_, serr, code = e.Run(t, "logout")
	outputs = append(outputs, serr)
	if code != 0 || x.revokes.Load() != 1 || !strings.Contains(serr, "identity provider: the refresh_token was revoked at "+x.URL) {
		t.Fatalf("logout: exit %d, %d revocations at the OP:\n%s", code, x.revokes.Load(), serr)
	}
	if _, err := refreshDirect(x.zop, sess2.RefreshToken.Reveal()); err == nil {
		t.Fatal("the OP's refresh token still works after logout")
	}
	if _, err := os.Stat(filepath.Join(e.Dir, "tokens.age")); err == nil {
		t.Fatal("tokens.age is left after logout")
	}

	_, jags := x.seen()
	secrets = append(append(secrets, subs...), jags...)
	var places []string
	for i, o := range outputs {
		for _, s := range secrets {
			if s != "" && strings.Contains(o, s) {
				places = append(places, "output "+string(rune('0'+i)))
			}
		}
	}
	_ = filepath.WalkDir(e.Home, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, s := range secrets {
			if s != "" && strings.Contains(string(b), s) {
				places = append(places, p)
			}
		}
		return nil
	})
	if len(places) > 0 {
		t.Fatalf("secrets found in: %v", places)
	}
	t.Logf("searched %d values in %d outputs and the files under HOME", len(secrets), len(outputs))
}

// expireAt moves a stored token's expiry into the past.
func (e *relayEnv) expireAt(v *vault.Vault, acct vault.Account) {
	e.t.Helper()
	err := v.Update(context.Background(), acct, func(r *vault.Record) (*vault.Record, error) {
		if r == nil {
			return nil, errors.New("no record")
		}
		r.Expiry = time.Now().Add(-time.Minute)
		return r, nil
	})
	testkit.NoErr(e.t, err)
}
