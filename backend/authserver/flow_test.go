package authserver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestFlow_OAuth2Client runs the whole flow with golang.org/x/oauth2 as the
// client: code + PKCE, login and consent over HTTP, the iss and state
// checks, the exchange, token validation, a hand-written refresh carrying
// resource, rotation, and reuse detection.
func TestFlow_OAuth2Client(t *testing.T) {
	inSigningModes(t, "", func(t *testing.T, e *env, _ string, key []byte) { runFlow(t, e, key) })
}

// inSigningModes runs test as subtests prefix+ES256 and prefix+HS256, on
// a server that signs its tokens so (HS256 with key).
func inSigningModes(t *testing.T, prefix string, test func(t *testing.T, e *env, mode string, key []byte)) {
	key := []byte("fake-hmac-secret-for-tests-0123456789")
	for _, mode := range []string{"ES256", "HS256"} {
		t.Run(prefix+mode, func(t *testing.T) {
			test(t, newEnv(t, func(c *Config) {
				if mode == "HS256" {
					c.HMACSecret = secret.New(string(key))
				}
			}), mode, key)
		})
	}
}

func runFlow(t *testing.T, e *env, secret []byte) {
	md := e.s.Metadata()
	cfg := &oauth2.Config{
		ClientID: "relay", RedirectURL: "http://127.0.0.1:51234/callback", Scopes: []string{"notes:read", "notes:write"},
		Endpoint: oauth2.Endpoint{AuthURL: md.AuthorizationEndpoint, TokenURL: md.TokenEndpoint,
			DeviceAuthURL: md.DeviceAuthorizationEndpoint, AuthStyle: oauth2.AuthStyleInParams},
	}
	verifier, state := oauth2.GenerateVerifier(), "flow-state-1"
	authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", e.ts.URL))

	// The browser: follow /authorize to the login form, log in, allow.
	r := e.get(authURL)
	page := e.get(r.location(t).String())
	c := e.login(hidden(t, page.body), "alice", alicePW)
	cb := e.consent(c, "allow").location(t)
	if cb.Host != "127.0.0.1:51234" || cb.Path != "/callback" {
		t.Fatalf("callback went to %s", cb)
	}
	if cb.Query().Get("state") != state || cb.Query().Get("iss") != md.Issuer {
		t.Fatalf("callback state/iss: %s", cb.RawQuery)
	}

	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.ts.Client())
	tok, err := cfg.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier),
		oauth2.SetAuthURLParam("resource", e.ts.URL))
	testkit.NoErr(t, err, "Exchange")
	if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.Expiry.IsZero() {
		t.Fatalf("token: type %q refresh %v expiry %v", tok.TokenType, tok.RefreshToken != "", tok.Expiry)
	}
	claims := verifyToken(t, e, tok.AccessToken, secret).Claims.(jwt.MapClaims)
	if claims["sub"] != "alice" || claims["aud"] != e.ts.URL || claims["scope"] != "notes:read notes:write" {
		t.Fatalf("claims: %v", claims)
	}

	// Refresh by hand, with resource (x/oauth2 cannot add it) and a
	// narrowed scope.
	t1 := refreshByHand(t, e, tok.RefreshToken, "notes:read")
	if t1.RefreshToken == tok.RefreshToken {
		t.Fatal("refresh token not rotated")
	}
	c1 := verifyToken(t, e, t1.AccessToken, secret).Claims.(jwt.MapClaims)
	if c1["scope"] != "notes:read" || c1["jti"] == claims["jti"] {
		t.Fatalf("refreshed claims: %v", c1)
	}
	t2 := refreshByHand(t, e, t1.RefreshToken, "")
	if verifyToken(t, e, t2.AccessToken, secret).Claims.(jwt.MapClaims)["scope"] != "notes:read notes:write" {
		t.Fatal("narrowing one access token must not narrow the grant")
	}
	wantOAuthError(t, e.refresh(t2.RefreshToken, "scope", "notes:read admin"), 400, "invalid_scope")

	// Reuse of a rotated-away token revokes the family: the newest fails too.
	wantOAuthError(t, e.refresh(tok.RefreshToken), 400, "invalid_grant")
	wantOAuthError(t, e.refresh(t2.RefreshToken), 400, "invalid_grant")
}

// refreshByHand is the ~30-line refresh the relay writes itself.
func refreshByHand(t *testing.T, e *env, rt, scope string) *oauth2.Token {
	t.Helper()
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"relay"}, "resource": {e.ts.URL}}
	if scope != "" {
		v.Set("scope", scope)
	}
	res, err := e.ts.Client().Post(e.s.Metadata().TokenEndpoint, "application/x-www-form-urlencoded", strings.NewReader(v.Encode()))
	testkit.NoErr(t, err)
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d", res.StatusCode)
	}
	var tok oauth2.Token
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("refresh body: %v", err)
	}
	return &tok
}

func TestStepUpAdminScope(t *testing.T) {
	e := newEnv(t)
	v, ch := pkce()
	q := authParams(ch)
	q.Set("scope", "notes:read admin")
	r := e.exchange(e.code(q), v)
	if r.status != 200 || r.json(t)["scope"] != "notes:read admin" {
		t.Fatalf("%d %s", r.status, r.body)
	}
}
