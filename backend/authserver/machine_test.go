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

const machineSecret = "machine-secret-0123456789"

// machineEnv is a server with machine clients "ci" (machineSecret) and
// "ci-key" (the public half of the returned key).
func machineEnv(t *testing.T) (*env, *ecdsa.PrivateKey) {
	t.Helper()
	key := testkit.ECKey(t)
	e := newEnv(t, func(c *Config) {
		c.MachineClients = []MachineClient{
			{ID: "ci", Secret: secret.New(machineSecret), Scopes: []string{"notes:read"}},
			{ID: "ci-key", Keys: []any{&key.PublicKey}, Scopes: []string{"notes:read", "notes:write"}},
		}
	})
	return e, key
}

func (e *env) assertion(key *ecdsa.PrivateKey, mod func(*jwt.RegisteredClaims)) string {
	e.t.Helper()
	now := e.clock.Now()
	c := jwt.RegisteredClaims{Issuer: "ci-key", Subject: "ci-key", Audience: jwt.ClaimStrings{e.ts.URL},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), ID: randomString(8)}
	if mod != nil {
		mod(&c)
	}
	return testkit.SignJWT(e.t, jwt.SigningMethodES256, key, "JWT", c)
}

func TestClientCredentialsSecret(t *testing.T) {
	e, _ := machineEnv(t)
	cc := url.Values{"grant_type": {"client_credentials"}}
	for name, r := range map[string]resp{
		"basic": e.tokenPost(cc, "", "ci", machineSecret),
		"post":  e.post("/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"ci"}, "client_secret": {machineSecret}}),
	} {
		if r.status != 200 {
			t.Fatalf("%s: %d %s", name, r.status, r.body)
		}
		m := r.json(t)
		if _, has := m["refresh_token"]; has {
			t.Errorf("%s: a refresh token was issued", name)
		}
		claims := testkit.PeekJWT(t, m["access_token"].(string), 1)
		if claims["sub"] != "ci" || claims["client_id"] != "ci" || claims["scope"] != "notes:read" || claims["aud"] != e.ts.URL {
			t.Errorf("%s: claims %v", name, claims)
		}
	}
	wantOAuthError(t, e.tokenPost(cc, "", "ci", "wrong-secret-0123456789"), 401, "invalid_client")
	wantOAuthError(t, e.tokenPost(cc, "", "nobody", machineSecret), 401, "invalid_client")
	wantOAuthError(t, e.post("/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"ci"}}), 401, "invalid_client")
	// A public client cannot use the grant: it has no credential.
	wantOAuthError(t, e.post("/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"relay"}}), 401, "invalid_client")
	wantOAuthError(t, e.tokenPost(url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}, "", "ci", machineSecret), 400, "invalid_scope")
	if strings.Contains(e.logs.String(), machineSecret) {
		t.Fatal("the secret is in the logs")
	}
}

func TestClientCredentialsAssertion(t *testing.T) {
	e, key := machineEnv(t)
	form := func(a string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {"ci-key"},
			"client_assertion_type": {assertionType}, "client_assertion": {a}}
	}
	good := e.assertion(key, nil)
	r := e.post("/token", form(good))
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if claims := testkit.PeekJWT(t, r.json(t)["access_token"].(string), 1); claims["sub"] != "ci-key" || claims["scope"] != "notes:read notes:write" {
		t.Fatalf("claims %v", claims)
	}
	other := testkit.ECKey(t)
	for name, a := range map[string]string{
		"replayed":      good,
		"other key":     e.assertion(other, nil),
		"wrong aud":     e.assertion(key, func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{"https://other.example"} }),
		"wrong iss":     e.assertion(key, func(c *jwt.RegisteredClaims) { c.Issuer = "ci" }),
		"expired":       e.assertion(key, func(c *jwt.RegisteredClaims) { c.ExpiresAt = jwt.NewNumericDate(e.clock.Now().Add(-time.Hour)) }),
		"exp far ahead": e.assertion(key, func(c *jwt.RegisteredClaims) { c.ExpiresAt = jwt.NewNumericDate(e.clock.Now().Add(time.Hour)) }),
		"no jti":        e.assertion(key, func(c *jwt.RegisteredClaims) { c.ID = "" }),
	} {
		t.Log(name)
		wantOAuthError(t, e.post("/token", form(a)), 401, "invalid_client")
	}
	// The token endpoint as aud (RFC 7523 §3) is accepted too.
	ep := e.assertion(key, func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{e.ts.URL + "/token"} })
	if r := e.post("/token", form(ep)); r.status != 200 {
		t.Fatalf("aud = token endpoint: %d %s", r.status, r.body)
	}
	// The secret client cannot present an assertion, nor the key client a secret.
	wantOAuthError(t, e.tokenPost(url.Values{"grant_type": {"client_credentials"}}, "", "ci-key", machineSecret), 401, "invalid_client")
}

func TestMachineClientsMetadata(t *testing.T) {
	plain := newEnv(t).s.Metadata()
	if slices.Contains(plain.GrantTypesSupported, "client_credentials") || len(plain.TokenEndpointAuthSigningAlgValuesSupported) > 0 {
		t.Fatalf("without machine clients: %+v", plain)
	}
	e, _ := machineEnv(t)
	md := e.s.Metadata()
	if !slices.Contains(md.GrantTypesSupported, "client_credentials") || !slices.Contains(md.TokenEndpointAuthMethodsSupported, "private_key_jwt") ||
		!slices.Contains(md.TokenEndpointAuthMethodsSupported, "client_secret_basic") || !slices.Contains(md.TokenEndpointAuthSigningAlgValuesSupported, "ES256") {
		t.Fatalf("with machine clients: %+v", md)
	}
	// Without machine clients the grant is unsupported.
	wantOAuthError(t, newEnv(t).post("/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"relay"}}), 400, "unsupported_grant_type")
}

func TestParseMachineClients(t *testing.T) {
	key := testkit.ECKey(t)
	doc := `[{"client_id":"ci","client_secret":"` + machineSecret + `","scopes":["notes:read"]},
	{"client_id":"k","jwks":` + string(testkit.JWKS(t, key)) + `,"scopes":["notes:read"]}]`
	mcs, err := ParseMachineClients([]byte(doc))
	if err != nil || len(mcs) != 2 || len(mcs[1].Keys) != 1 || keyAlg(mcs[1].Keys[0]) != "ES256" {
		t.Fatalf("%v %+v", err, mcs)
	}
	if _, err := ParseMachineClients([]byte(`[{"client_id":"x","secret":"` + machineSecret + `"}]`)); err == nil || strings.Contains(err.Error(), machineSecret) {
		t.Fatalf("unknown field: %v", err)
	}
	for name, mc := range map[string]MachineClient{
		"both":         {ID: "x", Secret: secret.New(machineSecret), Keys: []any{&key.PublicKey}},
		"neither":      {ID: "x"},
		"short secret": {ID: "x", Secret: secret.New("short")},
		"public id":    {ID: "relay", Secret: secret.New(machineSecret)},
		"scope":        {ID: "x", Secret: secret.New(machineSecret), Scopes: []string{"root"}},
	} {
		_, err := New(Config{Issuer: "http://127.0.0.1:1", Users: testUsers(t), MachineClients: []MachineClient{mc}})
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
