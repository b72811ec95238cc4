package bearer

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

func expectInvalid(t *testing.T, v *Validator, tok string) {
	t.Helper()
	got, err := v.Validate(bg, tok)
	testkit.WantIs(t, err, ErrInvalidToken, "Validate (token %+v)", got)
	if strings.Contains(err.Error(), tok) && tok != "" {
		t.Fatal("error echoes the token")
	}
}

func TestValidTokensEveryAlg(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		tok, err := keySetValidator(t).Validate(bg, signed(t, alg, claimsAt(testNow), nil))
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if tok.Subject != "alice" || tok.ClientID != "relay" || !tok.HasScope("notes:write") || tok.ID != "jti-1" {
			t.Fatalf("%s: wrong claims %+v", alg, tok)
		}
	}
	if _, err := hmacValidator(t).Validate(bg, signed(t, "HS256", claimsAt(testNow), nil)); err != nil {
		t.Fatalf("HS256: %v", err)
	}
}

func TestB2_AuthorizationHeaderForms(t *testing.T) {
	good := signed(t, "HS256", claimsAt(testNow), nil)
	cases := []struct {
		name    string
		headers []string
		want    error
	}{
		{"basic", []string{"Basic YWxpY2U6cHc="}, ErrMalformedHeader},
		{"bearer empty", []string{"Bearer "}, ErrMalformedHeader},
		{"bearer alone", []string{"Bearer"}, ErrMalformedHeader},
		{"two tokens", []string{"Bearer a b"}, ErrMalformedHeader},
		{"two headers", []string{"Bearer " + good, "Bearer " + good}, ErrMalformedHeader},
		{"bad chars", []string{"Bearer a,b"}, ErrMalformedHeader},
		{"lowercase scheme", []string{"bearer " + good}, nil},
		{"upper scheme", []string{"BEARER " + good}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/", nil)
			for _, h := range c.headers {
				r.Header.Add("Authorization", h)
			}
			got, err := FromRequest(r)
			testkit.WantIs(t, err, c.want, "FromRequest")
			if c.want == nil {
				if _, err := hmacValidator(t).Validate(bg, got); err != nil {
					t.Fatalf("valid token refused: %v", err)
				}
			}
		})
	}
}

func TestB3_TokenOnlyInQueryIsIgnored(t *testing.T) {
	good := signed(t, "HS256", claimsAt(testNow), nil)
	r, _ := http.NewRequest("POST", "/?access_token="+good, strings.NewReader("access_token="+good))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	testkit.WantIs(t, testkit.ErrOf(FromRequest(r)), ErrNoToken, "want ErrNoToken")
}

func TestB4_OversizedTokens(t *testing.T) {
	v := hmacValidator(t)
	big := claimsAt(testNow)
	big["pad"] = strings.Repeat("x", 1<<20)
	cases := map[string]string{
		"just over 8 KiB": strings.Repeat("a", MaxTokenSize+1),
		"1 MiB of dots":   strings.Repeat(".", 1<<20),
		"1 MiB payload":   signed(t, "HS256", big, nil),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := v.Validate(bg, tok)
			var te *TokenError
			if !errors.As(err, &te) || te.Reason != "token too large" {
				t.Fatalf("want size rejection before parsing, got %v", err)
			}
			r, _ := http.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			if _, err := FromRequest(r); err == nil {
				t.Fatal("FromRequest accepted an oversized token")
			}
		})
	}
}

func TestB5_MalformedStructure(t *testing.T) {
	v := hmacValidator(t)
	good := signed(t, "HS256", claimsAt(testNow), nil)
	parts := strings.Split(good, ".")
	cases := map[string]string{
		"one segment":       parts[0],
		"two segments":      parts[0] + "." + parts[1],
		"four segments":     good + ".x",
		"padding":           parts[0] + "=." + parts[1] + "." + parts[2],
		"std base64":        parts[0] + "." + parts[1] + "+/." + parts[2],
		"non base64":        "!!!." + parts[1] + "." + parts[2],
		"header not json":   b64([]byte("not json")) + "." + parts[1] + "." + parts[2],
		"header json array": b64([]byte(`["alg"]`)) + "." + parts[1] + "." + parts[2],
		"payload not json":  parts[0] + "." + b64([]byte("{")) + "." + parts[2],
		"empty":             "",
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) { expectInvalid(t, v, tok) })
	}
}

func TestB6_AlgNone(t *testing.T) {
	payload := mustJSON(t, claimsAt(testNow))
	for _, hdr := range []string{`{"alg":"none"}`, `{"alg":"None"}`, `{"alg":""}`, `{"typ":"JWT"}`, `{"alg":"NONE","typ":"JWT"}`} {
		tok := rawJWT(t, hdr, payload, nil, nil)
		expectInvalid(t, hmacValidator(t), tok)
		expectInvalid(t, keySetValidator(t), tok)
	}
}

func TestB7_AlgOutsideAllowList(t *testing.T) {
	payload := mustJSON(t, claimsAt(testNow))
	k := getKeys(t)
	cases := []struct {
		m   jwt.SigningMethod
		key any
		v   *Validator
	}{
		{jwt.SigningMethodHS512, testSecret, hmacValidator(t)},
		{jwt.SigningMethodHS384, testSecret, hmacValidator(t)},
		{jwt.SigningMethodPS256, k.rsa, keySetValidator(t)},
		{jwt.SigningMethodRS512, k.rsa, keySetValidator(t)},
		{jwt.SigningMethodRS256, k.rsa, hmacValidator(t)},
		{jwt.SigningMethodES256, k.ec, hmacValidator(t)},
	}
	for _, c := range cases {
		t.Run(c.m.Alg(), func(t *testing.T) {
			hdr := mustJSON(t, map[string]any{"alg": c.m.Alg(), "kid": "rsa"})
			expectInvalid(t, c.v, rawJWT(t, hdr, payload, c.m, c.key))
		})
	}
}

func TestB8_AlgorithmConfusion(t *testing.T) {
	// HS256 signed with the issuer's public key, in several encodings a
	// naive key function might hand to HMAC.
	k := getKeys(t)
	payload := mustJSON(t, claimsAt(testNow))
	for _, kid := range []string{"rsa", "ec", "ed"} {
		for _, key := range [][]byte{k.rsa.N.Bytes(), jwks(t), []byte(kid)} {
			hdr := mustJSON(t, map[string]any{"alg": "HS256", "kid": kid, "typ": "JWT"})
			expectInvalid(t, keySetValidator(t), rawJWT(t, hdr, payload, jwt.SigningMethodHS256, key))
		}
	}
	// An oct key in the JWKS is never used, even for an HS256 token.
	oct := `{"kty":"oct","kid":"oct","k":"` + b64(testSecret) + `"}`
	hdr := mustJSON(t, map[string]any{"alg": "HS256", "kid": "oct"})
	expectInvalid(t, keySetValidator(t, oct), rawJWT(t, hdr, payload, jwt.SigningMethodHS256, testSecret))
}

func TestB9_ShortHMACSecretRefused(t *testing.T) {
	for _, s := range [][]byte{nil, {}, []byte("short"), testSecret[:MinHMACSecret-1]} {
		testkit.WantIs(t, testkit.ErrOf(NewHMAC(Config{Issuer: testIssuer, Audience: testAudience}, s)), ErrConfig, "secret of %d bytes accepted", len(s))
	}
	if _, err := NewHMAC(Config{Issuer: testIssuer, Audience: testAudience}, testSecret[:MinHMACSecret]); err != nil {
		t.Fatalf("32-byte secret refused: %v", err)
	}
}

func TestB10_BadSignatures(t *testing.T) {
	for _, alg := range []string{"HS256", "RS256", "ES256", "EdDSA"} {
		v := validatorFor(t, alg)
		good := signed(t, alg, claimsAt(testNow), nil)
		p := strings.Split(good, ".")
		other := claimsAt(testNow)
		other["sub"] = "mallory"
		borrowed := strings.Split(signed(t, alg, other, nil), ".")
		sig := []byte(p[2])
		sig[3] ^= 1
		cases := map[string]string{
			"flipped":   p[0] + "." + p[1] + "." + string(sig),
			"truncated": p[0] + "." + p[1] + "." + p[2][:len(p[2])/2],
			"empty":     p[0] + "." + p[1] + ".",
			"borrowed":  p[0] + "." + borrowed[1] + "." + p[2],
		}
		for name, tok := range cases {
			t.Run(alg+"/"+name, func(t *testing.T) { expectInvalid(t, v, tok) })
		}
	}
}

func TestB12_WeirdKIDs(t *testing.T) {
	for _, kid := range []any{"../../etc/passwd", "' OR 1=1 --", strings.Repeat("k", 10_000), 42, nil, true, map[string]any{"a": 1}} {
		tok := signed(t, "ES256", claimsAt(testNow), map[string]any{"kid": kid})
		if kid == nil {
			// No kid: every suitable key is tried, and this one verifies.
			if _, err := keySetValidator(t).Validate(bg, tok); err != nil && len(tok) <= MaxTokenSize {
				t.Fatalf("token without kid refused: %v", err)
			}
			continue
		}
		expectInvalid(t, keySetValidator(t), tok)
	}
}

func TestB13_KeyURLHeadersIgnored(t *testing.T) {
	// The headers name an attacker URL and key; validation never fetches or
	// uses them: the token signed with the attacker's key still fails, and a
	// good token carrying them is judged on its own signature.
	srv, hits := countingServer(t, []byte(`{"keys":[]}`))
	attacker := getKeys(t).rsa // stands in: signed with rsa but kid says ec
	hdr := map[string]any{"jku": srv.URL, "x5u": srv.URL, "jwk": map[string]any{"kty": "RSA"}, "x5c": []string{"MIIB"}, "kid": "ec", "alg": "RS256"}
	tok := rawJWT(t, mustJSON(t, hdr), mustJSON(t, claimsAt(testNow)), jwt.SigningMethodRS256, attacker)
	expectInvalid(t, keySetValidator(t), tok)
	ok := signed(t, "ES256", claimsAt(testNow), map[string]any{"jku": srv.URL, "x5u": srv.URL})
	if _, err := keySetValidator(t).Validate(bg, ok); err != nil {
		t.Fatalf("good token with ignored headers refused: %v", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("validation fetched a URL from a token header %d times", n)
	}
}

func TestB14_Crit(t *testing.T) {
	for _, crit := range []any{[]string{"exp"}, []string{"b64"}, []string{}, "x"} {
		expectInvalid(t, keySetValidator(t), signed(t, "ES256", claimsAt(testNow), map[string]any{"crit": crit, "b64": false}))
	}
}

func TestB15_Typ(t *testing.T) {
	for _, typ := range []any{"id_token", "dpop+jwt", "logout+jwt", "secevent+jwt", "", 5} {
		expectInvalid(t, keySetValidator(t), signed(t, "ES256", claimsAt(testNow), map[string]any{"typ": typ}))
	}
	for _, typ := range []any{"JWT", "at+jwt", "AT+JWT", "application/at+jwt", nil} {
		if _, err := keySetValidator(t).Validate(bg, signed(t, "ES256", claimsAt(testNow), map[string]any{"typ": typ})); err != nil {
			t.Fatalf("typ %v refused: %v", typ, err)
		}
	}
}

func mutate(f func(c map[string]any)) map[string]any {
	c := claimsAt(testNow)
	f(c)
	return c
}

func TestClaims_B16toB22(t *testing.T) {
	cases := map[string]map[string]any{
		"B16/exp missing":     mutate(func(c map[string]any) { delete(c, "exp") }),
		"B16/exp string":      mutate(func(c map[string]any) { c["exp"] = "4102444800" }),
		"B16/exp past leeway": mutate(func(c map[string]any) { c["exp"] = testNow.Add(-time.Minute).Unix() }),
		"B17/nbf future":      mutate(func(c map[string]any) { c["nbf"] = testNow.Add(2 * time.Minute).Unix() }),
		"B17/iat future":      mutate(func(c map[string]any) { c["iat"] = testNow.Add(2 * time.Minute).Unix() }),
		"B17/iat string":      mutate(func(c map[string]any) { c["iat"] = "1" }),
		"B18/lifetime 25h":    mutate(func(c map[string]any) { c["exp"] = testNow.Add(25 * time.Hour).Unix() }),
		"B18/no iat, exp in 48h": mutate(func(c map[string]any) {
			delete(c, "iat")
			delete(c, "nbf")
			c["exp"] = testNow.Add(48 * time.Hour).Unix()
		}),
		"B19/other issuer":           mutate(func(c map[string]any) { c["iss"] = "https://evil.example" }),
		"B19/trailing slash":         mutate(func(c map[string]any) { c["iss"] = testIssuer + "/" }),
		"B19/case":                   mutate(func(c map[string]any) { c["iss"] = strings.ToUpper(testIssuer) }),
		"B19/port":                   mutate(func(c map[string]any) { c["iss"] = testIssuer + ":443" }),
		"B19/missing":                mutate(func(c map[string]any) { delete(c, "iss") }),
		"B20/aud missing":            mutate(func(c map[string]any) { delete(c, "aud") }),
		"B20/aud other resource":     mutate(func(c map[string]any) { c["aud"] = "https://other.example" }),
		"B20/aud is client id":       mutate(func(c map[string]any) { c["aud"] = "relay" }),
		"B20/aud trailing slash":     mutate(func(c map[string]any) { c["aud"] = testAudience + "/" }),
		"B20/id token at_hash":       mutate(func(c map[string]any) { c["at_hash"] = "l1yqw_Lkj-OgevTKyn2dAg" }),
		"B20/id token c_hash":        mutate(func(c map[string]any) { c["c_hash"] = "ROStsiFWW14j0xXjFyiNNQ" }),
		"B20/id token nonce":         mutate(func(c map[string]any) { c["nonce"] = "n-0S6_WzA2Mj" }),
		"B22/other tenant":           mutate(func(c map[string]any) { c["iss"] = testIssuer + "/tenant-b" }),
		"B16/exp exactly now-leeway": mutate(func(c map[string]any) { c["exp"] = testNow.Add(-31 * time.Second).Unix() }),
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			expectInvalid(t, keySetValidator(t), signed(t, "ES256", c, nil))
			expectInvalid(t, hmacValidator(t), signed(t, "HS256", c, nil))
		})
	}
	ok := map[string]map[string]any{
		"aud array":      mutate(func(c map[string]any) { c["aud"] = []string{"x", testAudience} }),
		"exp in leeway":  mutate(func(c map[string]any) { c["exp"] = testNow.Add(-10 * time.Second).Unix() }),
		"nbf in leeway":  mutate(func(c map[string]any) { c["nbf"] = testNow.Add(10 * time.Second).Unix() }),
		"lifetime 24h":   mutate(func(c map[string]any) { c["exp"] = testNow.Add(24 * time.Hour).Unix() }),
		"scp array":      mutate(func(c map[string]any) { delete(c, "scope"); c["scp"] = []string{"notes:read"} }),
		"azp for client": mutate(func(c map[string]any) { delete(c, "client_id"); c["azp"] = "relay" }),
	}
	for name, c := range ok {
		t.Run("ok/"+name, func(t *testing.T) {
			tok, err := keySetValidator(t).Validate(bg, signed(t, "ES256", c, nil))
			if err != nil || tok.ClientID != "relay" || len(tok.Scopes) == 0 {
				t.Fatalf("refused or wrong: %+v %v", tok, err)
			}
		})
	}
}

func TestB23_DuplicateMembers(t *testing.T) {
	k := getKeys(t)
	payload := mustJSON(t, claimsAt(testNow))
	dupClaim := strings.Replace(payload, `"sub":"alice"`, `"sub":"alice","sub":"admin"`, 1)
	dupHdr := `{"alg":"ES256","kid":"ec","alg":"ES256"}`
	for name, tok := range map[string]string{
		"claim":  rawJWT(t, `{"alg":"ES256","kid":"ec"}`, dupClaim, jwt.SigningMethodES256, k.ec),
		"header": rawJWT(t, dupHdr, payload, jwt.SigningMethodES256, k.ec),
	} {
		t.Run(name, func(t *testing.T) { expectInvalid(t, keySetValidator(t), tok) })
	}
}

func TestB25_ReplayOfValidTokenAccepted(t *testing.T) {
	v := keySetValidator(t)
	tok := signed(t, "ES256", claimsAt(testNow), nil)
	for i := 0; i < 3; i++ {
		if _, err := v.Validate(bg, tok); err != nil {
			t.Fatalf("use %d refused: %v", i, err)
		}
	}
}

func TestB26_ErrorsCarryNoTokenOrKey(t *testing.T) {
	v := keySetValidator(t)
	good := signed(t, "ES256", claimsAt(testNow), nil)
	p := strings.Split(good, ".")
	for _, tok := range []string{good + "x", p[0] + "." + p[1] + ".AAAA", signed(t, "ES256", mutate(func(c map[string]any) { c["iss"] = "x" }), nil)} {
		_, err := v.Validate(bg, tok)
		if err == nil {
			t.Fatal("accepted")
		}
		for _, part := range append(p, tok) {
			if len(part) > 8 && strings.Contains(err.Error(), part) {
				t.Fatalf("error %q contains token material", err)
			}
		}
	}
}
