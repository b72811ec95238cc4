package tool

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyrelay/keyrelay/backend/bearer"
	"github.com/keyrelay/keyrelay/internal/dpop"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

const echoURL = aud + "/mcp/tools/echo"

func newKey(t *testing.T) *dpop.Key {
	t.Helper()
	k, err := dpop.NewKey(dpop.ES256)
	testkit.NoErr(t, err)
	return k
}

func boundToken(t *testing.T, k *dpop.Key) string {
	return token(t, func(c jwt.MapClaims) { c["cnf"] = map[string]string{"jkt": k.Thumbprint()} })
}

func proof(t *testing.T, k *dpop.Key, method, u, tok string) string {
	t.Helper()
	p, err := k.Proof(method, u, dpop.ProofOptions{AccessToken: tok})
	testkit.NoErr(t, err)
	return "DPoP-Proof: " + p
}

func dpopFixture(t *testing.T, require bool) *fixture {
	t.Helper()
	v, err := bearer.NewHMAC(bearer.Config{Issuer: iss, Audience: aud}, secret)
	testkit.NoErr(t, err)
	return newFixtureDPoP(t, v, dpopSettings(require))
}

func dpopSettings(require bool) *bearer.DPoP {
	return &bearer.DPoP{Verifier: dpop.NewVerifier(dpop.VerifierConfig{}), Require: require}
}

// wantDPoPChallenge checks a 401 whose DPoP challenge carries errCode.
func wantDPoPChallenge(t *testing.T, r response, errCode, reason string) {
	t.Helper()
	if r.status != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401: %s", r.status, r.raw)
	}
	var dp string
	for _, v := range r.header.Values("WWW-Authenticate") {
		if strings.HasPrefix(v, "DPoP ") {
			dp = v
		}
	}
	if !strings.Contains(dp, `algs="ES256 EdDSA RS256"`) || !strings.Contains(dp, `error="`+errCode+`"`) {
		t.Fatalf("DPoP challenge %q, want error %q; all: %q", dp, errCode, r.header.Values("WWW-Authenticate"))
	}
	if reason != "" && r.body["error_description"] != reason {
		t.Fatalf("reason %q, want %q", r.body["error_description"], reason)
	}
}

func TestDPoPBoundTokenWithItsProof(t *testing.T) {
	f := dpopFixture(t, false)
	k := newKey(t)
	at := boundToken(t, k)
	for i := range 3 { // the token is cached after the first; each proof is checked
		r := f.call(t, "whoami", `{}`, "DPoP "+at, proof(t, k, "POST", aud+"/mcp/tools/whoami", at))
		if r.status != 200 {
			t.Fatalf("call %d: %d %s", i, r.status, r.raw)
		}
	}
}

// TestDPoPRefusals: each way a copied bound token is presented is refused
// (the stolen-token cases, against the library).
func TestDPoPRefusals(t *testing.T) {
	f := dpopFixture(t, false)
	k, other := newKey(t), newKey(t)
	at := boundToken(t, k)
	replayed := proof(t, k, "POST", echoURL, at)
	if r := f.call(t, "echo", `{"arguments":{"message":"hi"}}`, "DPoP "+at, replayed); r.status != 200 {
		t.Fatalf("first use: %d %s", r.status, r.raw)
	}
	plain := token(t, nil)
	cases := []struct {
		name, scheme, proof, errCode, reason string
	}{
		{"bound token as bearer", "Bearer ", "", "invalid_token", "the token is bound to a DPoP key: present it with the DPoP scheme and a proof"},
		{"no proof", "DPoP ", "", "invalid_dpop_proof", "no DPoP proof"},
		{"another key's proof", "DPoP ", proof(t, other, "POST", echoURL, at), "invalid_token", "the proof's key is not the token's"},
		{"replayed proof", "DPoP ", replayed, "invalid_dpop_proof", "proof replayed"},
		{"proof for another method", "DPoP ", proof(t, k, "GET", echoURL, at), "invalid_dpop_proof", "htm does not match the request"},
		{"proof for another URL", "DPoP ", proof(t, k, "POST", aud+"/mcp/tools/whoami", at), "invalid_dpop_proof", "htu does not match the request"},
		{"proof for another host", "DPoP ", proof(t, k, "POST", "http://127.0.0.1:1/mcp/tools/echo", at), "invalid_dpop_proof", "htu does not match the request"},
		{"ath of another token", "DPoP ", proof(t, k, "POST", echoURL, plain), "invalid_dpop_proof", "ath does not match the access token"},
		{"proof without ath", "DPoP ", proof(t, k, "POST", echoURL, ""), "invalid_dpop_proof", "ath missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			auth := []string{tc.scheme + at}
			if tc.proof != "" {
				auth = append(auth, tc.proof)
			}
			r := f.call(t, "echo", `{"arguments":{"message":"hi"}}`, auth...)
			if tc.scheme == "Bearer " {
				wantChallenge(t, r, 401, tc.errCode)
				if r.body["error_description"] != tc.reason {
					t.Fatalf("reason %q", r.body["error_description"])
				}
				return
			}
			wantDPoPChallenge(t, r, tc.errCode, tc.reason)
		})
	}
	t.Run("unbound token with the DPoP scheme", func(t *testing.T) {
		r := f.call(t, "echo", `{"arguments":{"message":"hi"}}`, "DPoP "+plain, proof(t, k, "POST", echoURL, plain))
		wantDPoPChallenge(t, r, "invalid_token", "the token is not bound to a DPoP key")
	})
	t.Run("two proofs", func(t *testing.T) {
		r := f.call(t, "echo", `{"arguments":{"message":"hi"}}`, "DPoP "+at, proof(t, k, "POST", echoURL, at), proof(t, k, "POST", echoURL, at))
		wantDPoPChallenge(t, r, "invalid_dpop_proof", "more than one DPoP proof")
	})
	t.Run("a bearer token still works", func(t *testing.T) {
		if r := f.call(t, "echo", `{"arguments":{"message":"hi"}}`, "Bearer "+plain); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
}

func TestDPoPBoundTokenRefusedWithoutDPoPSupport(t *testing.T) {
	f := newFixture(t) // no DPoP configured
	k := newKey(t)
	at := boundToken(t, k)
	wantChallenge(t, f.call(t, "echo", `{"arguments":{"message":"hi"}}`, "Bearer "+at), 401, "invalid_token")
	wantChallenge(t, f.call(t, "echo", `{"arguments":{"message":"hi"}}`, "DPoP "+at, proof(t, k, "POST", echoURL, at)), 401, "invalid_token")
}

func TestDPoPRequired(t *testing.T) {
	f := dpopFixture(t, true)
	r := f.call(t, "echo", `{"arguments":{"message":"hi"}}`, "Bearer "+token(t, nil))
	wantDPoPChallenge(t, r, "invalid_token", "DPoP is required: present a DPoP-bound token with a proof")
	for _, v := range r.header.Values("WWW-Authenticate") {
		if strings.HasPrefix(v, "Bearer") {
			t.Fatalf("a Bearer challenge while DPoP is required: %q", v)
		}
	}
	// No token at all, for a tool that needs one: a bare DPoP challenge.
	r = f.call(t, "whoami", `{}`)
	if r.status != 401 || len(r.header.Values("WWW-Authenticate")) != 1 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), `DPoP algs="ES256 EdDSA RS256"`) {
		t.Fatalf("bare challenge: %d %q", r.status, r.header.Values("WWW-Authenticate"))
	}
	k := newKey(t)
	at := boundToken(t, k)
	if r := f.call(t, "echo", `{"arguments":{"message":"hi"}}`, "DPoP "+at, proof(t, k, "POST", echoURL, at)); r.status != 200 {
		t.Fatalf("a bound token with its proof: %d %s", r.status, r.raw)
	}
}

func TestDPoPChallengesWhenOptional(t *testing.T) {
	f := dpopFixture(t, false)
	r := f.call(t, "whoami", `{}`)
	got := r.header.Values("WWW-Authenticate")
	if len(got) != 2 || !strings.HasPrefix(got[0], "Bearer ") || !strings.HasPrefix(got[1], `DPoP algs="ES256 EdDSA RS256"`) {
		t.Fatalf("challenges %q", got)
	}
	// Insufficient scope with DPoP: the error is on the DPoP challenge.
	k := newKey(t)
	at := boundToken(t, k)
	r = f.call(t, "write", `{}`, "DPoP "+at, proof(t, k, "POST", aud+"/mcp/tools/write", at))
	if r.status != 403 || !strings.Contains(strings.Join(r.header.Values("WWW-Authenticate"), "|"), `DPoP algs="ES256 EdDSA RS256", error="insufficient_scope"`) {
		t.Fatalf("403: %d %q", r.status, r.header.Values("WWW-Authenticate"))
	}
}

// TestDPoPIntrospectedToken: an opaque token whose introspection answer
// has cnf.jkt is bound the same way.
func TestDPoPIntrospectedToken(t *testing.T) {
	k := newKey(t)
	answer := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"active": true, "iss": iss, "aud": aud, "sub": "alice", "token_type": "DPoP",
			"exp": time.Now().Add(time.Minute).Unix(), "client_id": "relay", "scope": "notes:read", "cnf": map[string]string{"jkt": k.Thumbprint()}})
	}
	f := introspectingFixture(t, answer, dpopSettings(false))
	wantChallenge(t, f.call(t, "echo", `{"arguments":{"message":"hi"}}`, "Bearer "+opaqueToken), 401, "invalid_token")
	if r := f.call(t, "echo", `{"arguments":{"message":"hi"}}`, "DPoP "+opaqueToken, proof(t, k, "POST", echoURL, opaqueToken)); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	wantDPoPChallenge(t, f.call(t, "echo", `{"arguments":{"message":"hi"}}`, "DPoP "+opaqueToken, proof(t, newKey(t), "POST", echoURL, opaqueToken)), "invalid_token", "the proof's key is not the token's")
}

// TestDPoPResourceMetadata: the protected resource metadata says which
// proof algorithms the backend takes and whether it requires DPoP
// (RFC 9728 §2); without DPoP it says nothing of it.
func TestDPoPResourceMetadata(t *testing.T) {
	for _, c := range []struct {
		f    *fixture
		want string
	}{
		{dpopFixture(t, true), `"dpop_bound_access_tokens_required":true,"dpop_signing_alg_values_supported":["ES256","EdDSA","RS256"]`},
		{dpopFixture(t, false), `"dpop_bound_access_tokens_required":false,"dpop_signing_alg_values_supported":["ES256","EdDSA","RS256"]`},
		{newFixture(t), ""},
	} {
		r := c.f.do(t, "GET", "/.well-known/oauth-protected-resource", "", "")
		if c.want == "" && strings.Contains(r.raw, "dpop") || !strings.Contains(r.raw, c.want) {
			t.Fatalf("metadata %s, want %s", r.raw, c.want)
		}
	}
}
