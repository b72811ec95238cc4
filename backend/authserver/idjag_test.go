package authserver

import (
	"crypto/ecdsa"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

const trustedIdP = "https://login.corp.test"

// idjagEnv is machineEnv with a trusted identity provider, whose signing
// key it returns.
func idjagEnv(t *testing.T) (*env, *ecdsa.PrivateKey) {
	t.Helper()
	idpKey := testkit.ECKey(t)
	e, _ := machineEnvWith(t, func(c *Config) {
		c.TrustedIdPs = []TrustedIdP{{Issuer: trustedIdP, Keys: []any{&idpKey.PublicKey}}}
	})
	return e, idpKey
}

func machineEnvWith(t *testing.T, more func(*Config)) (*env, *ecdsa.PrivateKey) {
	t.Helper()
	key := testkit.ECKey(t)
	e := newEnv(t, func(c *Config) {
		c.MachineClients = []MachineClient{
			{ID: "ci", Secret: newSecret(machineSecret), Scopes: []string{"notes:read", "notes:write"}},
			{ID: "ci-key", Keys: []any{&key.PublicKey}, Scopes: []string{"notes:read"}},
		}
		more(c)
	})
	return e, key
}

// idjag signs an ID-JAG for client "ci" and subject alice, as mod changes it.
func (e *env) idjag(key *ecdsa.PrivateKey, typ string, mod func(*idJAGClaims)) string {
	e.t.Helper()
	now := e.clock.Now()
	c := idJAGClaims{RegisteredClaims: jwt.RegisteredClaims{Issuer: trustedIdP, Subject: "alice@corp.test",
		Audience: jwt.ClaimStrings{e.ts.URL}, IssuedAt: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)), ID: randomString(8)},
		ClientID: "ci", Resource: jwt.ClaimStrings{e.ts.URL}}
	if mod != nil {
		mod(&c)
	}
	return testkit.SignJWT(e.t, jwt.SigningMethodES256, key, typ, c)
}

func bearerForm(assertion string) url.Values {
	return url.Values{"grant_type": {JWTBearerGrantType}, "assertion": {assertion}}
}

// TestJWTBearerIDJAG: a machine client presenting an ID-JAG of a trusted
// identity provider gets a token for the person it names, with no
// refresh token; the metadata offers the grant.
func TestJWTBearerIDJAG(t *testing.T) {
	e, idpKey := idjagEnv(t)
	if md := e.get("/.well-known/oauth-authorization-server").json(t); !slices.Contains(toStrings(md["grant_types_supported"]), JWTBearerGrantType) {
		t.Fatalf("metadata lacks the jwt-bearer grant: %v", md["grant_types_supported"])
	}
	r := e.tokenPost(bearerForm(e.idjag(idpKey, idJAGType, nil)), "", "ci", machineSecret)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	m := r.json(t)
	if _, has := m["refresh_token"]; has {
		t.Error("a refresh token was issued")
	}
	claims := testkit.PeekJWT(t, m["access_token"].(string), 1)
	if claims["sub"] != "alice@corp.test" || claims["client_id"] != "ci" || claims["aud"] != e.ts.URL || claims["scope"] != "notes:read notes:write" {
		t.Errorf("claims %v", claims)
	}
	// The ID-JAG's scope bounds what the client gets.
	r = e.tokenPost(bearerForm(e.idjag(idpKey, idJAGType, func(c *idJAGClaims) { c.Scope = "notes:read admin" })), "", "ci", machineSecret)
	if r.status != 200 || testkit.PeekJWT(t, r.json(t)["access_token"].(string), 1)["scope"] != "notes:read" {
		t.Errorf("scope-bound ID-JAG: %d %s", r.status, r.body)
	}
}

// TestJWTBearerRefusals: each broken ID-JAG or missing client
// authentication is refused, with no token.
func TestJWTBearerRefusals(t *testing.T) {
	e, idpKey := idjagEnv(t)
	other := testkit.ECKey(t)
	replayed := e.idjag(idpKey, idJAGType, nil)
	if r := e.tokenPost(bearerForm(replayed), "", "ci", machineSecret); r.status != 200 {
		t.Fatalf("control: %d %s", r.status, r.body)
	}
	cases := []struct {
		name           string
		assertion      string
		id, sec        string
		status         int
		code, bodyPart string
	}{
		{"replay", replayed, "ci", machineSecret, 400, "invalid_grant", ""},
		{"no client authentication", e.idjag(idpKey, idJAGType, nil), "", "", 401, "invalid_client", ""},
		{"wrong client secret", e.idjag(idpKey, idJAGType, nil), "ci", "wrong-secret-0123456789", 401, "invalid_client", ""},
		{"another client's ID-JAG", e.idjag(idpKey, idJAGType, func(c *idJAGClaims) { c.ClientID = "ci-key" }), "ci", machineSecret, 400, "invalid_grant", ""},
		{"wrong typ", e.idjag(idpKey, "JWT", nil), "ci", machineSecret, 400, "invalid_grant", ""},
		{"an ID token's typ (none)", e.idjag(idpKey, "", nil), "ci", machineSecret, 400, "invalid_grant", ""},
		{"wrong aud", e.idjag(idpKey, idJAGType, func(c *idJAGClaims) { c.Audience = jwt.ClaimStrings{"https://other.test"} }), "ci", machineSecret, 400, "invalid_grant", ""},
		{"untrusted iss", e.idjag(idpKey, idJAGType, func(c *idJAGClaims) { c.Issuer = "https://evil.test" }), "ci", machineSecret, 400, "invalid_grant", ""},
		{"signed by another key", e.idjag(other, idJAGType, nil), "ci", machineSecret, 400, "invalid_grant", ""},
		{"expired", e.idjag(idpKey, idJAGType, func(c *idJAGClaims) { c.ExpiresAt = jwt.NewNumericDate(e.clock.Now().Add(-time.Hour)) }), "ci", machineSecret, 400, "invalid_grant", ""},
		{"exp too far", e.idjag(idpKey, idJAGType, func(c *idJAGClaims) { c.ExpiresAt = jwt.NewNumericDate(e.clock.Now().Add(48 * time.Hour)) }), "ci", machineSecret, 400, "invalid_grant", ""},
		{"no sub", e.idjag(idpKey, idJAGType, func(c *idJAGClaims) { c.Subject = "" }), "ci", machineSecret, 400, "invalid_grant", ""},
		{"no jti", e.idjag(idpKey, idJAGType, func(c *idJAGClaims) { c.ID = "" }), "ci", machineSecret, 400, "invalid_grant", ""},
		{"another resource", e.idjag(idpKey, idJAGType, func(c *idJAGClaims) { c.Resource = jwt.ClaimStrings{"https://other.test/mcp"} }), "ci", machineSecret, 400, "invalid_target", ""},
		{"not a JWT", "not-a-jwt", "ci", machineSecret, 400, "invalid_grant", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.tokenPost(bearerForm(tc.assertion), "", tc.id, tc.sec)
			if r.status != tc.status || r.json(t)["error"] != tc.code || strings.Contains(r.body, "access_token") {
				t.Fatalf("got %d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
			if strings.Contains(r.body, tc.assertion) {
				t.Fatal("the answer echoes the assertion")
			}
		})
	}
}

// TestTrustedIdPsNeedAMachineClient: the grant needs client
// authentication, so trusted identity providers without a machine
// client are a configuration error; a provider without a key too.
func TestTrustedIdPsConfig(t *testing.T) {
	k := testkit.ECKey(t)
	for name, c := range map[string]Config{
		"no machine client": {TrustedIdPs: []TrustedIdP{{Issuer: trustedIdP, Keys: []any{&k.PublicKey}}}},
		"no key":            {MachineClients: []MachineClient{{ID: "ci", Secret: newSecret(machineSecret)}}, TrustedIdPs: []TrustedIdP{{Issuer: trustedIdP}}},
		"relative issuer":   {MachineClients: []MachineClient{{ID: "ci", Secret: newSecret(machineSecret)}}, TrustedIdPs: []TrustedIdP{{Issuer: "corp", Keys: []any{&k.PublicKey}}}},
	} {
		if err := c.checkTrustedIdPs(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	idps, err := ParseTrustedIdPs([]byte(`[{"issuer": "https://login.corp.test", "jwks": ` + string(testkit.JWKS(t, k)) + `}]`))
	if err != nil || len(idps) != 1 || len(idps[0].Keys) != 1 || keyAlg(idps[0].Keys[0]) != "ES256" {
		t.Fatalf("ParseTrustedIdPs: %v %+v", err, idps)
	}
	if _, err := ParseTrustedIdPs([]byte(`[{"issuer": "x", "jwks": {}, "extra": 1}]`)); err == nil {
		t.Error("an unknown field was accepted")
	}
}

func newSecret(s string) secret.Value { return secret.New(s) }

func toStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
