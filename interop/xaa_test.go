package interop

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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
	*testkit.IDJAGIssuer
	idKey      *ecdsa.PublicKey // the OP's ID token key
	keyFetches atomic.Int64     // GET /xaa-keys
}

func startXAA(t *testing.T) *xop {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	clients := map[string]*storage.Client{relayClientID: storage.NativeClient(relayClientID, "http://127.0.0.1/callback")}
	st := &jwtStorage{Storage: storage.NewStorageWithClients(storage.NewUserStore(issuer), clients)}
	k := testkit.ECKey(t)
	st.ec = &ecKey{id: "ec-xaa", key: k}
	x := &xop{zop: &zop{URL: issuer, User: "test-user@127.0.0.1"}, idKey: &k.PublicKey}
	x.IDJAGIssuer = &testkit.IDJAGIssuer{T: t, Issuer: issuer, Client: relayClientID, MCPClient: xaaClient,
		Key: testkit.ECKey(t), Verify: x.verifyIDToken}
	srv.Config.Handler = x.front(x.spy(exampleop.SetupServer(issuer, st, nil, false)))
	srv.Start()
	t.Cleanup(srv.Close)
	return x
}

// front answers token exchanges and serves the ID-JAG key's JWKS at
// /xaa-keys; the rest goes to next.
func (x *xop) front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/xaa-keys" {
			x.keyFetches.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(testkit.JWKS(x.T, x.Key))
			return
		}
		if r.Method == http.MethodPost && r.URL.Path == "/oauth/token" {
			if form := peekForm(w, r); form.Get("grant_type") == "urn:ietf:params:oauth:grant-type:token-exchange" {
				x.Exchange(w, form)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
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
	if c.Iss != x.URL || !audHas(c.Aud, relayClientID) || time.Now().After(time.Unix(int64(c.Exp), 0)) || c.Sub == "" {
		return "", errors.New("wrong iss, aud or exp")
	}
	return c.Sub, nil
}

// startXAABackend runs the backend binary with its built-in server, the
// relay's machine client and the OP as trusted identity provider.
func startXAABackend(t *testing.T, x *xop, jwksURI string) string {
	t.Helper()
	f := testkit.WriteTemp(t, "machines.json", `[{"client_id": "`+xaaClient+`", "client_secret": "`+xaaSecret+`", "scopes": ["notes:read", "notes:write"]}]`, 0o600)
	return testkit.StartBackend(t, "BACKEND_AUTH_SERVER=1", "AUTH_MACHINE_CLIENTS_FILE="+f, "AUTH_TRUSTED_IDPS_FILE="+x.TrustFile(jwksURI), "BACKEND_LOG_LEVEL=debug")
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
	one, two := startXAABackend(t, x, x.URL+"/xaa-keys"), startXAABackend(t, x, "")
	e := newRelayEnv(t, one, one, x.User, opPassword, map[string]string{"RELAY_IDP_ISSUER": x.URL, "RELAY_IDP_CLIENT_ID": relayClientID,
		"RELAY_CLIENT_ID": xaaClient, "RELAY_CLIENT_SECRET": xaaSecret})
	delete(e.Vars, "RELAY_AUTH_SERVER_URL") // the backend names its own
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
	subs, _ := x.Seen()
	if e.opens() != 1 || x.codes.Load() != 1 || len(subs) != 1 {
		t.Fatalf("first call: %d browser opens, %d code exchanges, %d token exchanges", e.opens(), x.codes.Load(), len(subs))
	}
	a := x.authRequests()
	if len(a) != 1 || a[0].Get("code_challenge_method") != "S256" || !strings.Contains(a[0].Get("scope"), "openid") ||
		a[0].Get("client_id") != relayClientID || a[0].Get("resource") != "" {
		t.Fatalf("the OP's authorization request: %v", redactQuery(a[0]))
	}
	// The session is in the vault, once for every server.
	v := e.vault()
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
	if subs, _ = x.Seen(); e.opens() != 1 || x.codes.Load() != 1 || len(subs) != 2 {
		t.Fatalf("second server: %d browser opens, %d code exchanges, %d token exchanges", e.opens(), x.codes.Load(), len(subs))
	}

	// 3. The first server's access token expires: exchange again, from the
	// session, with no sign-in.
	acct := vault.Account{Issuer: one, ClientID: xaaClient, Resource: one}
	rec, err := v.Get(context.Background(), acct)
	testkit.NoErr(t, err)
	secrets = append(secrets, rec.AccessToken.Reveal())
	e.expireAt(acct)
	whoami(one)
	if subs, _ = x.Seen(); e.opens() != 1 || len(subs) != 3 || subs[2] != sess.IDToken.Reveal() {
		t.Fatalf("after expiry: %d opens, %d exchanges (the session's ID token: %v)", e.opens(), len(subs), subs[len(subs)-1] == sess.IDToken.Reveal())
	}

	// 4. The provider no longer accepts the ID token: the relay refreshes
	// at the OP (no browser) and exchanges the new one.
	x.Refuse(1)
	e.expireAt(acct)
	whoami(one)
	subs, _ = x.Seen()
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
	x.Refuse(1)
	e.expireAt(acct)
	whoami(one)
	if subs, _ = x.Seen(); e.opens() != 2 || x.codes.Load() != 2 || len(subs) != 7 {
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
	if _, err := refreshDirect(oauthConfig(x.zop, relayClientID), sess2.RefreshToken.Reveal()); err == nil {
		t.Fatal("the OP's refresh token still works after logout")
	}
	if _, err := os.Stat(filepath.Join(e.Dir, "tokens.age")); err == nil {
		t.Fatal("tokens.age is left after logout")
	}

	_, jags := x.Seen()
	secrets = append(append(secrets, subs...), jags...)
	if places := testkit.Leaks(secrets, outputs, []string{e.Home}); len(places) > 0 {
		t.Fatalf("secrets found in: %v", places)
	}
	t.Logf("searched %d values in %d outputs and the files under HOME", len(secrets), len(outputs))
}
