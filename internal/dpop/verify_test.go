package dpop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var t0 = time.Unix(1_800_000_000, 0)

func clock() time.Time { return t0 }

const (
	testURL   = "https://api.example/mcp/tools/echo"
	testToken = "test-access-token-not-real"
)

func mustKey(t testing.TB, alg string) *Key {
	t.Helper()
	k, err := NewKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newTestVerifier() *Verifier { return NewVerifier(VerifierConfig{Now: clock}) }

func proofFor(t testing.TB, k *Key, method, u, token string) string {
	t.Helper()
	p, err := k.Proof(method, u, ProofOptions{AccessToken: token, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// forge signs an arbitrary header and payload with k's private key.
func forge(t testing.TB, k *Key, alg string, header, claims map[string]any) string {
	t.Helper()
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	return forgeRaw(t, k, alg, string(hb), string(cb))
}

func forgeRaw(t testing.TB, k *Key, alg, header, claims string) string {
	t.Helper()
	s := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(claims))
	sig, err := jwt.GetSigningMethod(alg).Sign(s, k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s + "." + b64.EncodeToString(sig)
}

func jwkOf(k *Key) map[string]any {
	j, _ := publicJWK(k.priv.Public())
	b, _ := json.Marshal(j)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

func goodHeader(k *Key) map[string]any {
	return map[string]any{"typ": "dpop+jwt", "alg": k.alg, "jwk": jwkOf(k)}
}

func goodClaims() map[string]any {
	return map[string]any{"jti": "j1", "htm": "POST", "htu": testURL, "iat": t0.Unix(), "ath": AccessTokenHash(testToken)}
}

func req(proofs ...string) Request {
	return Request{Proofs: proofs, Method: "POST", URL: testURL, AccessToken: testToken}
}

func TestRoundTripEachAlg(t *testing.T) {
	for _, alg := range Algs {
		t.Run(alg, func(t *testing.T) {
			k := mustKey(t, alg)
			v := newTestVerifier()
			res, err := v.Verify(req(proofFor(t, k, "POST", testURL+"?q=1#f", testToken)))
			if err != nil {
				t.Fatal(err)
			}
			if res.Thumbprint != k.Thumbprint() {
				t.Fatalf("thumbprint %s, want %s", res.Thumbprint, k.Thumbprint())
			}
		})
	}
}

// TestRefusals: each check of RFC 9449 §4.3 refuses on its own.
func TestRefusals(t *testing.T) {
	k := mustKey(t, ES256)
	other := mustKey(t, ES256)
	with := func(f func(h, c map[string]any)) string {
		h, c := goodHeader(k), goodClaims()
		f(h, c)
		return forge(t, k, ES256, h, c)
	}
	good := with(func(h, c map[string]any) {})
	cases := []struct {
		name   string
		r      Request
		reason string
	}{
		{"no proof", req(), "no DPoP proof"},
		{"two proofs", req(good, good), "more than one DPoP proof"},
		{"two joined by a comma", req(good + "," + good), "more than one DPoP proof"},
		{"not a JWS", req("abc.def"), "proof is not a compact JWS"},
		{"four segments", req(good + ".x"), "proof is not a compact JWS"},
		{"padding", req(strings.Replace(good, ".", "=.", 1)), "proof is not base64url"},
		{"too large", req(strings.Repeat("a", MaxProofSize+1)), "proof too large"},
		{"typ JWT", req(with(func(h, c map[string]any) { h["typ"] = "JWT" })), "typ is not dpop+jwt"},
		{"typ missing", req(with(func(h, c map[string]any) { delete(h, "typ") })), "typ is not dpop+jwt"},
		{"alg none", req(with(func(h, c map[string]any) { h["alg"] = "none" })), "alg not allowed"},
		{"alg HS256", req(with(func(h, c map[string]any) { h["alg"] = "HS256" })), "alg not allowed"},
		{"alg ES384", req(with(func(h, c map[string]any) { h["alg"] = "ES384" })), "alg not allowed"},
		{"no jwk", req(with(func(h, c map[string]any) { delete(h, "jwk") })), "jwk missing"},
		{"kid instead", req(with(func(h, c map[string]any) { h["kid"] = "k1" })), "the key must be in jwk only"},
		{"x5c", req(with(func(h, c map[string]any) { h["x5c"] = []string{"MII"} })), "the key must be in jwk only"},
		{"jku", req(with(func(h, c map[string]any) { h["jku"] = "https://evil/" })), "the key must be in jwk only"},
		{"crit", req(with(func(h, c map[string]any) { h["crit"] = []string{"exp"} })), "crit is not supported"},
		{"private key in jwk", req(with(func(h, c map[string]any) { h["jwk"].(map[string]any)["d"] = "AAAA" })), "jwk holds a private key"},
		{"symmetric jwk", req(with(func(h, c map[string]any) { h["jwk"] = map[string]any{"kty": "oct", "k": "AAAA"} })), "jwk holds a private key"},
		{"jwk of another alg", req(with(func(h, c map[string]any) {
			h["jwk"] = map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64.EncodeToString(make([]byte, 32))}
		})), "jwk does not match alg"},
		{"point off the curve", req(with(func(h, c map[string]any) { h["jwk"].(map[string]any)["y"] = b64.EncodeToString(make([]byte, 32)) })), "bad EC key"},
		{"another key's jwk", req(with(func(h, c map[string]any) { h["jwk"] = jwkOf(other) })), "bad signature"},
		{"no jti", req(with(func(h, c map[string]any) { delete(c, "jti") })), "a required claim is missing"},
		{"no htm", req(with(func(h, c map[string]any) { delete(c, "htm") })), "a required claim is missing"},
		{"no htu", req(with(func(h, c map[string]any) { delete(c, "htu") })), "a required claim is missing"},
		{"no iat", req(with(func(h, c map[string]any) { delete(c, "iat") })), "a required claim is missing"},
		{"iat a string", req(with(func(h, c map[string]any) { c["iat"] = "1800000000" })), "proof claims are not a JSON object of the right types"},
		{"empty jti", req(with(func(h, c map[string]any) { c["jti"] = "" })), "bad jti"},
		{"htm GET", req(with(func(h, c map[string]any) { c["htm"] = "GET" })), "htm does not match the request"},
		{"htm lower case", req(with(func(h, c map[string]any) { c["htm"] = "post" })), "htm does not match the request"},
		{"htu another path", req(with(func(h, c map[string]any) { c["htu"] = "https://api.example/mcp/tools/other" })), "htu does not match the request"},
		{"htu another host", req(with(func(h, c map[string]any) { c["htu"] = "https://evil.example/mcp/tools/echo" })), "htu does not match the request"},
		{"htu http", req(with(func(h, c map[string]any) { c["htu"] = "http://api.example/mcp/tools/echo" })), "htu does not match the request"},
		{"htu with userinfo", req(with(func(h, c map[string]any) { c["htu"] = "https://u@api.example/mcp/tools/echo" })), "htu does not match the request"},
		{"iat too old", req(with(func(h, c map[string]any) { c["iat"] = t0.Add(-61 * time.Second).Unix() })), "proof too old"},
		{"iat in the future", req(with(func(h, c map[string]any) { c["iat"] = t0.Add(6 * time.Second).Unix() })), "iat in the future"},
		{"iat absurd", req(with(func(h, c map[string]any) { c["iat"] = 1e300 })), "bad iat"},
		{"no ath", req(with(func(h, c map[string]any) { delete(c, "ath") })), "ath missing"},
		{"ath of another token", req(with(func(h, c map[string]any) { c["ath"] = AccessTokenHash("another") })), "ath does not match the access token"},
		{"bad signature", req(good[:len(good)-4] + "AAAA"), "bad signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newTestVerifier().Verify(tc.r)
			var pe *ProofError
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalidProof) {
				t.Fatalf("err = %v, want a ProofError", err)
			}
			if pe.Reason != tc.reason {
				t.Fatalf("reason %q, want %q", pe.Reason, tc.reason)
			}
		})
	}
	if _, err := newTestVerifier().Verify(req(good)); err != nil {
		t.Fatalf("the unmodified proof: %v", err)
	}
}

func TestDuplicateMembers(t *testing.T) {
	k := mustKey(t, ES256)
	jb, _ := json.Marshal(jwkOf(k))
	for name, hc := range map[string][2]string{
		"header":  {`{"typ":"dpop+jwt","alg":"ES256","alg":"ES256","jwk":` + string(jb) + `}`, `{"jti":"a","htm":"POST","htu":"` + testURL + `","iat":1800000000}`},
		"jwk":     {`{"typ":"dpop+jwt","alg":"ES256","jwk":` + strings.Replace(string(jb), `"kty"`, `"kty":"EC","kty"`, 1) + `}`, `{"jti":"a","htm":"POST","htu":"` + testURL + `","iat":1800000000}`},
		"payload": {`{"typ":"dpop+jwt","alg":"ES256","jwk":` + string(jb) + `}`, `{"jti":"a","htm":"POST","htm":"POST","htu":"` + testURL + `","iat":1800000000}`},
		// encoding/json matches names without regard to case: "TYP" would
		// set typ too, so it is a duplicate; a name with an escape or
		// outside ASCII (the Kelvin sign folds to k) is refused outright.
		"header, another case":         {`{"TYP":"JWT","typ":"dpop+jwt","alg":"ES256","jwk":` + string(jb) + `}`, `{"jti":"a","htm":"POST","htu":"` + testURL + `","iat":1800000000}`},
		"payload, another case":        {`{"typ":"dpop+jwt","alg":"ES256","jwk":` + string(jb) + `}`, `{"jti":"a","HTM":"GET","htm":"POST","htu":"` + testURL + `","iat":1800000000}`},
		"escaped name":                 {`{"typ":"dpop+jwt","alg":"ES256","jwk":` + string(jb) + `}`, `{"jti":"a","\u0068tm":"POST","htu":"` + testURL + `","iat":1800000000}`},
		"Kelvin sign":                  {`{"typ":"dpop+jwt","alg":"ES256","jwk":` + strings.Replace(string(jb), `}`, `,"K":"AAAA"}`, 1) + `}`, `{"jti":"a","htm":"POST","htu":"` + testURL + `","iat":1800000000}`},
		"private member in upper case": {`{"typ":"dpop+jwt","alg":"ES256","jwk":` + strings.Replace(string(jb), `}`, `,"D":"AAAA"}`, 1) + `}`, `{"jti":"a","htm":"POST","htu":"` + testURL + `","iat":1800000000}`},
	} {
		t.Run(name, func(t *testing.T) {
			p := forgeRaw(t, k, ES256, hc[0], hc[1])
			if _, err := newTestVerifier().Verify(Request{Proofs: []string{p}, Method: "POST", URL: testURL}); !errors.Is(err, ErrInvalidProof) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestReplay(t *testing.T) {
	k := mustKey(t, ES256)
	v := newTestVerifier()
	p := proofFor(t, k, "POST", testURL, testToken)
	if _, err := v.Verify(req(p)); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(req(p))
	var pe *ProofError
	if !errors.As(err, &pe) || pe.Reason != "proof replayed" {
		t.Fatalf("replay: %v", err)
	}
	// Another key may use the same jti: the cache is keyed by thumbprint.
	other := mustKey(t, ES256)
	if _, err := v.Verify(req(forge(t, other, ES256, goodHeader(other), goodClaims()))); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(req(forge(t, other, ES256, goodHeader(other), goodClaims()))); err == nil {
		t.Fatal("the other key's replay passed")
	}
}

func TestReplayCacheBounded(t *testing.T) {
	now := t0
	clk := func() time.Time { return now }
	v := NewVerifier(VerifierConfig{Now: clk, ReplayEntries: 5, ReplayPerKey: 3})
	verify := func(k *Key) error {
		p, _ := k.Proof("POST", testURL, ProofOptions{AccessToken: testToken, Now: clk})
		_, err := v.Verify(req(p))
		return err
	}
	k := mustKey(t, ES256)
	for i := range 3 {
		if err := verify(k); err != nil {
			t.Fatalf("proof %d: %v", i, err)
		}
	}
	if err := verify(k); err == nil || !strings.Contains(err.Error(), "too many proofs") {
		t.Fatalf("a fourth proof of one key in the window: %v", err)
	}
	// Other keys have room up to the total, then none.
	if err := verify(mustKey(t, ES256)); err != nil {
		t.Fatal(err)
	}
	if err := verify(mustKey(t, ES256)); err != nil {
		t.Fatal(err)
	}
	if err := verify(mustKey(t, ES256)); err == nil || !strings.Contains(err.Error(), "too many proofs") {
		t.Fatalf("a sixth proof in all: %v", err)
	}
	if len(v.replay.seen) != 5 {
		t.Fatalf("%d entries, bound 5", len(v.replay.seen))
	}
	now = now.Add(2 * time.Minute) // everything expired: room again
	if err := verify(k); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	if len(v.replay.seen) != 1 {
		t.Fatalf("%d entries after the sweep, want 1", len(v.replay.seen))
	}
}

func TestTokenEndpointProof(t *testing.T) {
	k := mustKey(t, ES256)
	v := newTestVerifier()
	u := "https://as.example/token"
	if _, err := v.Verify(Request{Proofs: []string{proofFor(t, k, "POST", u, "")}, Method: "POST", URL: u}); err != nil {
		t.Fatal(err)
	}
	// A resource request's proof (with ath) is not a token request's.
	_, err := v.Verify(Request{Proofs: []string{proofFor(t, k, "POST", u, testToken)}, Method: "POST", URL: u})
	if !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("ath at the token endpoint: %v", err)
	}
}

func TestNonce(t *testing.T) {
	now := t0
	n := NewNonces(time.Minute, func() time.Time { return now })
	v := NewVerifier(VerifierConfig{Now: func() time.Time { return now }, Nonces: n, Window: 10 * time.Minute})
	k := mustKey(t, ES256)
	mk := func(nonce string) Request {
		p, err := k.Proof("POST", testURL, ProofOptions{AccessToken: testToken, Nonce: nonce, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return req(p)
	}
	for _, bad := range []string{"", "made-up", NewNonces(time.Minute, func() time.Time { return now }).Current()} {
		if _, err := v.Verify(mk(bad)); !errors.Is(err, ErrUseNonce) {
			t.Fatalf("nonce %q: %v", bad, err)
		}
	}
	cur := n.Current()
	if _, err := v.Verify(mk(cur)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	if _, err := v.Verify(mk(cur)); err != nil {
		t.Fatalf("the previous step's nonce: %v", err)
	}
	now = now.Add(time.Minute)
	if _, err := v.Verify(mk(cur)); !errors.Is(err, ErrUseNonce) {
		t.Fatalf("a nonce two steps old: %v", err)
	}
}

func TestHTU(t *testing.T) {
	for in, want := range map[string]string{
		"HTTPS://API.Example:443/a?b#c":   "https://api.example/a",
		"http://127.0.0.1:80":             "http://127.0.0.1/",
		"http://127.0.0.1:8080/x/%7euser": "http://127.0.0.1:8080/x/~user",
		"http://h/a%2fb":                  "http://h/a%2Fb",
		"http://h/a/./b/../c":             "http://h/a/c",
		"http://[::1]:443/x":              "http://[::1]:443/x",
		"https://[::1]:443/x":             "https://[::1]/x",
	} {
		got, err := HTU(in)
		if err != nil || got != want {
			t.Errorf("HTU(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "/relative", "ftp://h/", "https://u:p@h/", "mailto:x@y", "http://h/%zz", "https:///x"} {
		if _, err := HTU(bad); err == nil {
			t.Errorf("HTU(%q) passed", bad)
		}
	}
}

// TestThumbprintRFC7638 is the example of RFC 7638 §3.1.
func TestThumbprintRFC7638(t *testing.T) {
	j := jwk{Kty: "RSA", E: "AQAB", N: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}
	if got := j.thumbprint(); got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("thumbprint %s", got)
	}
}

func TestKeyMarshalRoundTrip(t *testing.T) {
	for _, alg := range Algs {
		k := mustKey(t, alg)
		der, err := k.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		k2, err := ParseKey(alg, der)
		if err != nil || k2.Thumbprint() != k.Thumbprint() {
			t.Fatalf("%s: %v", alg, err)
		}
		if _, err := ParseKey("RS256", der[:len(der)/2]); err == nil || strings.Contains(err.Error(), string(der[:8])) {
			t.Fatalf("a truncated key: %v", err)
		}
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := newKey(ec, ES256); err == nil {
		t.Fatal("a P-384 key passed as ES256")
	}
}

func TestChoose(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
		ok   bool
	}{{nil, ES256, true}, {[]string{"RS256", "ES256"}, ES256, true}, {[]string{"EdDSA", "RS256"}, EdDSA, true}, {[]string{"PS256"}, "", false}} {
		if got, ok := Choose(c.in); got != c.want || ok != c.ok {
			t.Errorf("Choose(%v) = %q %v", c.in, got, ok)
		}
	}
}

func TestKeyMismatchNotRecorded(t *testing.T) {
	k, other := mustKey(t, ES256), mustKey(t, ES256)
	v := newTestVerifier()
	p := proofFor(t, k, "POST", testURL, testToken)
	r := req(p)
	r.Thumbprint = other.Thumbprint()
	if _, err := v.Verify(r); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("another key: %v", err)
	}
	r.Thumbprint = k.Thumbprint()
	if _, err := v.Verify(r); err != nil {
		t.Fatalf("the same proof for the right key: %v", err)
	}
}

func TestSignerNonces(t *testing.T) {
	s := NewSigner(nil)
	if _, err := s.Proof("POST", testURL, ""); !errors.Is(err, ErrKey) {
		t.Fatalf("no key: %v", err)
	}
	if _, err := s.EnsureKey(ES256); err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("DPoP-Nonce", "n-1")
	if !s.Observe("https://API.example/x", h) || s.Observe("https://api.example/y", h) {
		t.Fatal("Observe: a new nonce, then the same one")
	}
	h.Set("DPoP-Nonce", "bad nonce")
	if s.Observe(testURL, h) {
		t.Fatal("a nonce with a space was kept")
	}
	n := NewNonces(time.Minute, clock)
	v := NewVerifier(VerifierConfig{Now: time.Now, Nonces: n})
	h.Set("DPoP-Nonce", n.Current())
	s.Observe(testURL, h)
	p, err := s.Proof("POST", testURL, testToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(req(p)); err != nil && !errors.Is(err, ErrUseNonce) {
		t.Fatal(err)
	}
}

// TestSignerNoncesPerRole: a token endpoint's nonce and a resource's on
// the same origin are kept apart.
func TestSignerNoncesPerRole(t *testing.T) {
	s := NewSigner(mustKey(t, ES256))
	h := http.Header{}
	h.Set("DPoP-Nonce", "as-nonce")
	s.ObserveToken("https://api.example/token", h)
	h.Set("DPoP-Nonce", "rs-nonce")
	s.Observe(testURL, h)
	claims := func(p string) string {
		b, _ := b64.DecodeString(strings.Split(p, ".")[1])
		return string(b)
	}
	at, _ := s.Proof("POST", "https://api.example/token", "")
	rs, _ := s.Proof("POST", testURL, testToken)
	if !strings.Contains(claims(at), `"nonce":"as-nonce"`) || !strings.Contains(claims(rs), `"nonce":"rs-nonce"`) {
		t.Fatalf("token endpoint %s, resource %s", claims(at), claims(rs))
	}
}

// TestHeaderCache: a header seen before skips its decoding, never the
// signature or the claims; the cache stays bounded.
func TestHeaderCache(t *testing.T) {
	k := mustKey(t, ES256)
	v := newTestVerifier()
	good := forge(t, k, ES256, goodHeader(k), goodClaims())
	if _, err := v.Verify(req(good)); err != nil {
		t.Fatal(err)
	}
	if len(v.headers.m) != 1 {
		t.Fatalf("%d headers kept, want 1", len(v.headers.m))
	}
	c := goodClaims()
	c["jti"] = "another"
	forged := forge(t, k, ES256, goodHeader(k), c)
	forged = forged[:len(forged)-4] + "AAAA"
	var pe *ProofError
	if _, err := v.Verify(req(forged)); !errors.As(err, &pe) || pe.Reason != "bad signature" {
		t.Fatalf("a forged signature under a known header: %v", err)
	}
	c["htm"] = "GET"
	if _, err := v.Verify(req(forge(t, k, ES256, goodHeader(k), c))); !errors.As(err, &pe) || pe.Reason != "htm does not match the request" {
		t.Fatalf("wrong claims under a known header: %v", err)
	}
	only := NewVerifier(VerifierConfig{Algs: []string{EdDSA}, Now: v.cfg.Now})
	only.headers.m = map[string]*header{}
	maps.Copy(only.headers.m, v.headers.m)
	if _, err := only.Verify(req(good)); !errors.As(err, &pe) || pe.Reason != "alg not allowed" {
		t.Fatalf("a known header of an alg not allowed: %v", err)
	}
	for i := range maxHeaders + 10 {
		other := mustKey(t, EdDSA)
		c := goodClaims()
		c["jti"] = fmt.Sprint(i)
		if _, err := v.Verify(req(forge(t, other, EdDSA, goodHeader(other), c))); err != nil {
			t.Fatal(err)
		}
		if len(v.headers.m) > maxHeaders {
			t.Fatalf("%d headers kept, more than %d", len(v.headers.m), maxHeaders)
		}
	}
}

// TestReplayCacheOrder: entries leave in the order they came once
// expired. One that expires early behind a later one is remembered until
// that one goes (a replay stays refused), then counted once if its jti
// comes again; when all have expired nothing is left.
func TestReplayCacheOrder(t *testing.T) {
	c := newReplayCache(10, 3)
	now := t0
	add := func(jti string, life time.Duration) error { return c.add("k", jti, now.Add(life), now) }
	ok := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ok(add("late", time.Minute))
	ok(add("early", time.Second))  // an older iat: expires first
	now = now.Add(2 * time.Second) // early has expired, behind late
	if err := add("late", time.Minute); err == nil || !strings.Contains(err.Error(), "replayed") {
		t.Fatalf("a replay of the live entry: %v", err)
	}
	ok(add("early", time.Minute)) // expired: its jti may come again
	if c.perJKT[digest("k")] != 2 || len(c.seen) != 2 {
		t.Fatalf("%d counted for the key, %d entries; want 2 and 2", c.perJKT[digest("k")], len(c.seen))
	}
	ok(add("third", time.Minute))
	if err := add("fourth", time.Minute); err == nil || !strings.Contains(err.Error(), "too many") {
		t.Fatalf("past the per-key bound: %v", err)
	}
	now = now.Add(2 * time.Minute)
	ok(add("fifth", time.Minute))
	if len(c.seen) != 1 || c.perJKT[digest("k")] != 1 || len(c.perJKT) != 1 || len(c.queue)-c.head != 1 {
		t.Fatalf("after the window: %d entries, %v, %d queued", len(c.seen), c.perJKT, len(c.queue)-c.head)
	}
}

// BenchmarkReplayAtBound: a key at its bound is refused without a scan of
// its entries (the old cache swept all 65,536 of them on each refusal).
func BenchmarkReplayAtBound(b *testing.B) {
	c := newReplayCache(0, 0)
	now := t0
	for i := range defaultReplayPerKey {
		if err := c.add("k", strconv.Itoa(i), now.Add(time.Minute), now); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		i++
		if err := c.add("k", "x"+strconv.Itoa(i), now.Add(time.Minute), now); err == nil {
			b.Fatal("a proof past the bound was accepted")
		}
	}
}
