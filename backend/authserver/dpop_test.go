package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyrelay/keyrelay/internal/dpop"
	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

func dpopEnv(t *testing.T, mod ...func(*Config)) *env {
	return newEnv(t, append([]func(*Config){func(c *Config) { c.DPoP = true }}, mod...)...)
}

func newDPoPKey(t *testing.T) *dpop.Key {
	t.Helper()
	k, err := dpop.NewKey(dpop.ES256)
	testkit.NoErr(t, err)
	return k
}

// proof signs a proof for POST /token at the env's clock.
func (e *env) proof(k *dpop.Key, nonce string) string {
	e.t.Helper()
	p, err := k.Proof("POST", e.ts.URL+"/token", dpop.ProofOptions{Nonce: nonce, Now: e.clock.Now})
	testkit.NoErr(e.t, err)
	return p
}

// tokenPost posts v to /token with the proof, if any, and Basic
// credentials (an id and a secret), if the id is not empty.
func (e *env) tokenPost(v url.Values, proof string, basic ...string) resp {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.abs("/token"), strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	if len(basic) == 2 && basic[0] != "" {
		req.SetBasicAuth(basic[0], basic[1])
	}
	return do(e.t, e.browser, req)
}

func (e *env) codeForm() url.Values {
	code, verifier := e.freshCode()
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"client_id": {"relay"}, "redirect_uri": {"http://127.0.0.1:43210/callback"}}
}

func refreshForm(rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"relay"}}
}

// wantBound checks a DPoP token response bound to k, in the JWT and in
// /introspect's answer.
func (e *env) wantBound(r resp, k *dpop.Key) map[string]any {
	e.t.Helper()
	if r.status != 200 {
		e.t.Fatalf("token: %d %s", r.status, r.body)
	}
	j := r.json(e.t)
	if j["token_type"] != "DPoP" {
		e.t.Fatalf("token_type %v", j["token_type"])
	}
	tok, _, err := jwt.NewParser().ParseUnverified(j["access_token"].(string), jwt.MapClaims{})
	testkit.NoErr(e.t, err)
	cnf, _ := tok.Claims.(jwt.MapClaims)["cnf"].(map[string]any)
	if cnf["jkt"] != k.Thumbprint() {
		e.t.Fatalf("cnf %v, want jkt %s", cnf, k.Thumbprint())
	}
	in := e.s.introspect(secret.New(j["access_token"].(string)), nil)
	if in.TokenType != "DPoP" || in.Cnf == nil || in.Cnf.JKT != k.Thumbprint() {
		e.t.Fatalf("introspection %+v", in)
	}
	return j
}

func TestDPoPMetadata(t *testing.T) {
	if got := dpopEnv(t).s.Metadata().DPoPSigningAlgValuesSupported; strings.Join(got, " ") != "ES256 EdDSA RS256" {
		t.Fatalf("dpop_signing_alg_values_supported %v", got)
	}
	if got := newEnv(t).s.Metadata().DPoPSigningAlgValuesSupported; got != nil {
		t.Fatalf("DPoP off, advertised %v", got)
	}
}

func TestDPoPCodeAndRefreshBound(t *testing.T) {
	e := dpopEnv(t)
	k, other := newDPoPKey(t), newDPoPKey(t)
	j := e.wantBound(e.tokenPost(e.codeForm(), e.proof(k, "")), k)
	rt := j["refresh_token"].(string)

	// The refresh token is bound: no proof, or another key's, is refused,
	// and neither spends or revokes it.
	wantOAuthError(t, e.tokenPost(refreshForm(rt), ""), 400, "invalid_grant")
	wantOAuthError(t, e.tokenPost(refreshForm(rt), e.proof(other, "")), 400, "invalid_grant")
	j = e.wantBound(e.tokenPost(refreshForm(rt), e.proof(k, "")), k)
	if j["refresh_token"] == rt {
		t.Fatal("the refresh token did not rotate")
	}
	if !strings.Contains(e.logs.String(), "bound refresh token without its DPoP key") {
		t.Fatal("the refused refresh was not logged")
	}
}

func TestDPoPReplayedProofRefused(t *testing.T) {
	e := dpopEnv(t)
	k := newDPoPKey(t)
	p := e.proof(k, "")
	e.wantBound(e.tokenPost(e.codeForm(), p), k)
	r := e.tokenPost(e.codeForm(), p)
	wantOAuthError(t, r, 400, "invalid_dpop_proof")
	if !strings.Contains(r.body, "proof replayed") {
		t.Fatalf("body %s", r.body)
	}
}

func TestDPoPBadProofs(t *testing.T) {
	e := dpopEnv(t)
	k := newDPoPKey(t)
	other, _ := k.Proof("POST", e.ts.URL+"/revoke", dpop.ProofOptions{Now: e.clock.Now})
	withAth, _ := k.Proof("POST", e.ts.URL+"/token", dpop.ProofOptions{AccessToken: "x", Now: e.clock.Now})
	old, _ := k.Proof("POST", e.ts.URL+"/token", dpop.ProofOptions{Now: func() time.Time { return e.clock.Now().Add(-time.Hour) }})
	for name, p := range map[string]string{"another URL": other, "ath": withAth, "too old": old, "garbage": "a.b.c"} {
		t.Run(name, func(t *testing.T) {
			wantOAuthError(t, e.tokenPost(e.codeForm(), p), 400, "invalid_dpop_proof")
		})
	}
}

// TestDPoPUnboundStaysBearer: without a proof, tokens are Bearer, and a
// later refresh with a proof binds the new access token.
func TestDPoPUnboundStaysBearer(t *testing.T) {
	e := dpopEnv(t)
	r := e.tokenPost(e.codeForm(), "")
	if r.status != 200 || r.json(t)["token_type"] != "Bearer" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	k := newDPoPKey(t)
	e.wantBound(e.tokenPost(refreshForm(r.json(t)["refresh_token"].(string)), e.proof(k, "")), k)
}

func TestDPoPOffIgnoresProof(t *testing.T) {
	e := newEnv(t)
	r := e.tokenPost(e.codeForm(), e.proof(newDPoPKey(t), ""))
	if r.status != 200 || r.json(t)["token_type"] != "Bearer" {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func TestDPoPNonce(t *testing.T) {
	e := dpopEnv(t, func(c *Config) { c.DPoPNonce = true })
	k := newDPoPKey(t)
	r := e.tokenPost(e.codeForm(), e.proof(k, ""))
	wantOAuthError(t, r, 400, "use_dpop_nonce")
	nonce := r.header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("no DPoP-Nonce")
	}
	e.wantBound(e.tokenPost(e.codeForm(), e.proof(k, nonce)), k)
	wantOAuthError(t, e.tokenPost(e.codeForm(), e.proof(k, "stale")), 400, "use_dpop_nonce")
	if _, err := New(Config{Issuer: "http://127.0.0.1:1", Users: testUsers(t), DPoPNonce: true}); err == nil {
		t.Fatal("nonces without DPoP accepted")
	}
}

func TestDPoPDeviceAndClientCredentials(t *testing.T) {
	e, _ := machineEnv(t)
	e.s.dpop = newDPoPVerifier(Config{DPoP: true, Now: e.clock.Now})
	k := newDPoPKey(t)
	e.wantBound(e.tokenPost(url.Values{"grant_type": {"client_credentials"}}, e.proof(k, ""), "ci", machineSecret), k)

	d := e.deviceStart()
	e.verify(d["user_code"].(string), "allow")
	e.clock.Advance(10 * time.Second)
	r := e.tokenPost(url.Values{"grant_type": {DeviceCodeGrantType}, "device_code": {d["device_code"].(string)}, "client_id": {"relay"}}, e.proof(k, ""))
	rt := e.wantBound(r, k)["refresh_token"].(string)
	wantOAuthError(t, e.tokenPost(refreshForm(rt), ""), 400, "invalid_grant")
}
