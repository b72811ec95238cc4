package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestA9_CodeReplayRevokesTokens(t *testing.T) {
	e := newEnv(t)
	code, v := e.freshCode()
	first := e.exchange(code, v)
	if first.status != 200 {
		t.Fatalf("first exchange: %d %s", first.status, first.body)
	}
	rt := first.json(t)["refresh_token"].(string)
	wantOAuthError(t, e.exchange(code, v), 400, "invalid_grant")
	wantOAuthError(t, e.refresh(rt), 400, "invalid_grant")
	if !strings.Contains(e.logs.String(), "code replayed") {
		t.Fatal("replay not logged")
	}
}

func TestA10_CodeExpiredOtherClientOtherRedirect(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Clients = append(DefaultClients(), Client{ID: "other", RedirectURIs: []string{"http://127.0.0.1/callback"}, Scopes: []string{"notes:read"}})
	})
	cases := []struct {
		name  string
		setup func()
		extra []string
	}{
		{"expired", func() { e.clock.Advance(codeTTL + time.Second) }, nil},
		{"another client", func() {}, []string{"client_id", "other"}},
		{"another redirect port", func() {}, []string{"redirect_uri", "http://127.0.0.1:43211/callback"}},
		{"another redirect path", func() {}, []string{"redirect_uri", "http://127.0.0.1:43210/cb"}},
		{"unknown code", func() {}, []string{"code", "not-a-code"}},
	}
	for _, tc := range cases {
		t.Run("A10/"+tc.name, func(t *testing.T) {
			code, v := e.freshCode()
			tc.setup()
			wantOAuthError(t, e.exchange(code, v, tc.extra...), 400, "invalid_grant")
		})
	}
	t.Run("A10/unknown client", func(t *testing.T) {
		code, v := e.freshCode()
		wantOAuthError(t, e.exchange(code, v, "client_id", "nobody"), 401, "invalid_client")
	})
}

func TestA11_VerifierChecks(t *testing.T) {
	e := newEnv(t)
	other, _ := pkce()
	cases := []struct {
		name, verifier, want string
		spent                bool // the code is spent by this request
	}{
		{"wrong verifier", other, "invalid_grant", true},
		{"missing verifier", "", "invalid_request", false},
		{"short verifier", "abc", "invalid_request", false},
		{"verifier with bad characters", strings.Repeat("a", 42) + "+", "invalid_request", false},
		{"challenge sent as verifier", "", "invalid_grant", true},
	}
	for _, tc := range cases {
		t.Run("A11/"+tc.name, func(t *testing.T) {
			v, ch := pkce()
			if tc.name == "challenge sent as verifier" {
				tc.verifier = ch
			}
			code := e.code(authParams(ch))
			wantOAuthError(t, e.exchange(code, tc.verifier), 400, tc.want)
			r := e.exchange(code, v)
			if spent := r.status != 200; spent != tc.spent {
				t.Fatalf("code spent = %v, want %v (%s)", spent, tc.spent, r.body)
			}
		})
	}
}

func TestA12_RefreshReuseRevokesFamily(t *testing.T) {
	e := newEnv(t)
	rt1 := e.tokens()["refresh_token"].(string)
	r := e.refresh(rt1)
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	rt2 := r.json(t)["refresh_token"].(string)
	if rt2 == rt1 || rt2 == "" {
		t.Fatal("refresh token not rotated")
	}
	wantOAuthError(t, e.refresh(rt1), 400, "invalid_grant")
	wantOAuthError(t, e.refresh(rt2), 400, "invalid_grant")
	// Another family is untouched.
	if r := e.refresh(e.tokens()["refresh_token"].(string)); r.status != 200 {
		t.Fatalf("unrelated family: %d", r.status)
	}
}

func TestA13_RefreshByAnotherClient(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Clients = append(DefaultClients(), Client{ID: "other", RedirectURIs: []string{"http://127.0.0.1/callback"}})
	})
	rt := e.tokens()["refresh_token"].(string)
	wantOAuthError(t, e.refresh(rt, "client_id", "other"), 400, "invalid_grant")
	if r := e.refresh(rt); r.status != 200 {
		t.Fatalf("the owner can still refresh: %d %s", r.status, r.body)
	}
}

func TestA14_UnsupportedGrantTypes(t *testing.T) {
	e := newEnv(t)
	for _, gt := range []string{"password", "implicit", "client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange",
		"urn:ietf:params:oauth:grant-type:jwt-bearer", "AUTHORIZATION_CODE"} {
		t.Run("A14/"+gt, func(t *testing.T) {
			r := e.post("/token", url.Values{"grant_type": {gt}, "client_id": {"relay"}, "username": {"alice"}, "password": {alicePW}})
			wantOAuthError(t, r, 400, "unsupported_grant_type")
		})
	}
	t.Run("A14/missing", func(t *testing.T) {
		wantOAuthError(t, e.post("/token", url.Values{"client_id": {"relay"}}), 400, "invalid_request")
	})
}

func TestA15_TokenRequestShape(t *testing.T) {
	e := newEnv(t)
	code, v := e.freshCode()
	good := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v},
		"client_id": {"relay"}, "redirect_uri": {"http://127.0.0.1:43210/callback"}}
	form := "application/x-www-form-urlencoded"
	cases := []struct{ name, path, ctype, body string }{
		{"json body", "/token", "application/json", `{"grant_type":"authorization_code"}`},
		{"multipart", "/token", "multipart/form-data; boundary=x", "--x--"},
		{"no content type", "/token", "", good.Encode()},
		{"oversized", "/token", form, good.Encode() + "&pad=" + strings.Repeat("a", 70<<10)},
		{"repeated code", "/token", form, good.Encode() + "&code=" + url.QueryEscape(code)},
		{"repeated grant_type", "/token", form, good.Encode() + "&grant_type=refresh_token"},
		{"repeated empty", "/token", form, good.Encode() + "&scope=&scope="},
		{"parameters in the URL", "/token?" + good.Encode(), form, ""},
		{"bad escape", "/token", form, good.Encode() + "&x=%zz"},
		{"semicolon", "/token", form, good.Encode() + ";x=1"},
	}
	for _, tc := range cases {
		t.Run("A15/"+tc.name, func(t *testing.T) {
			wantOAuthError(t, e.postRaw(tc.path, tc.ctype, tc.body), 400, "invalid_request")
		})
	}
	t.Run("A15/basic auth refused", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.ts.URL+"/token", strings.NewReader(good.Encode()))
		req.Header.Set("Content-Type", form)
		req.SetBasicAuth("relay", "")
		wantOAuthError(t, do(t, e.browser, req), 400, "invalid_request")
	})
	t.Run("A15/charset parameter accepted, code not spent by bad requests", func(t *testing.T) {
		r := e.postRaw("/token", form+"; charset=utf-8", good.Encode())
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}

func TestA16_TokenResponsesNotCached(t *testing.T) {
	e := newEnv(t)
	ok := e.exchange(e.freshCode())
	cases := map[string]resp{
		"success":    ok,
		"refresh":    e.refresh(ok.json(t)["refresh_token"].(string)),
		"error":      e.refresh("nope"),
		"bad form":   e.postRaw("/token", "text/plain", "x"),
		"device":     e.post("/device_authorization", url.Values{"client_id": {"relay"}}),
		"device err": e.post("/device_authorization", url.Values{"client_id": {"nobody"}}),
	}
	for name, r := range cases {
		t.Run("A16/"+name, func(t *testing.T) {
			if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
				t.Fatalf("Cache-Control %q Pragma %q", r.header.Get("Cache-Control"), r.header.Get("Pragma"))
			}
			if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Fatalf("Content-Type %q", r.header.Get("Content-Type"))
			}
		})
	}
	body := ok.json(t)
	if body["token_type"] != "Bearer" || body["expires_in"].(float64) != 900 || body["scope"] != "notes:read notes:write" {
		t.Fatalf("token response: %v", body)
	}
}

func TestA17_ResourceValidation(t *testing.T) {
	e := newEnv(t)
	bad := []string{"relative/path", "/api", "http://127.0.0.1:1/#frag", e.ts.URL + "#", "https://evil.example",
		e.ts.URL + "/other", "urn:keyrelay:x", strings.ToUpper(e.ts.URL), "://x"}
	for _, res := range bad {
		t.Run("A17/authorize "+res, func(t *testing.T) {
			_, ch := pkce()
			q := authParams(ch)
			q.Set("resource", res)
			wantRedirectError(t, e.get("/authorize?"+q.Encode()), "invalid_target")
		})
		t.Run("A17/device "+res, func(t *testing.T) {
			wantOAuthError(t, e.post("/device_authorization", url.Values{"client_id": {"relay"}, "resource": {res}}), 400, "invalid_target")
		})
	}
	t.Run("A17/code exchange with another allowed resource", func(t *testing.T) {
		code, v := e.freshCode() // granted for Resources[0]
		wantOAuthError(t, e.exchange(code, v, "resource", "https://other.example/api"), 400, "invalid_target")
	})
	t.Run("A17/code exchange with a malformed resource does not spend the code", func(t *testing.T) {
		code, v := e.freshCode()
		wantOAuthError(t, e.exchange(code, v, "resource", "x#y"), 400, "invalid_target")
		if r := e.exchange(code, v); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("A17/refresh with another resource", func(t *testing.T) {
		rt := e.tokens()["refresh_token"].(string)
		wantOAuthError(t, e.refresh(rt, "resource", "https://other.example/api"), 400, "invalid_target")
		wantOAuthError(t, e.refresh(rt, "resource", "https://evil.example"), 400, "invalid_target")
		if r := e.refresh(rt, "resource", e.ts.URL); r.status != 200 {
			t.Fatalf("refresh with the granted resource: %d %s", r.status, r.body)
		}
	})
	t.Run("A17/second resource and trailing slash accepted", func(t *testing.T) {
		for res, aud := range map[string]string{"https://other.example/api": "https://other.example/api", e.ts.URL + "/": e.ts.URL} {
			v, ch := pkce()
			q := authParams(ch)
			q.Set("resource", res)
			r := e.exchange(e.code(q), v, "resource", res)
			if r.status != 200 {
				t.Fatalf("%s: %d %s", res, r.status, r.body)
			}
			if got := testkit.PeekJWT(t, r.json(t)["access_token"].(string), 1)["aud"]; got != aud {
				t.Fatalf("aud = %v, want %s", got, aud)
			}
		}
	})
}

func TestA18_AccessTokenClaims(t *testing.T) {
	inSigningModes(t, "A18/", func(t *testing.T, e *env, mode string, key []byte) {
		at := e.tokens()["access_token"].(string)
		tok := verifyToken(t, e, at, key)
		c := tok.Claims.(jwt.MapClaims)
		if c["iss"] != e.s.Metadata().Issuer || c["iss"] != e.ts.URL {
			t.Fatalf("iss = %v", c["iss"])
		}
		if c["aud"] != e.ts.URL {
			t.Fatalf("aud = %#v, want the single string %s", c["aud"], e.ts.URL)
		}
		exp, iat, nbf := c["exp"].(float64), c["iat"].(float64), c["nbf"].(float64)
		if exp-iat > 15*60 || exp <= iat || nbf != iat || iat != float64(e.clock.Now().Unix()) {
			t.Fatalf("exp %v iat %v nbf %v", exp, iat, nbf)
		}
		if c["sub"] != "alice" || c["client_id"] != "relay" || c["scope"] != "notes:read notes:write" || len(c["jti"].(string)) < 16 {
			t.Fatalf("claims: %v", c)
		}
		if tok.Header["typ"] != "at+jwt" || tok.Header["alg"] != mode {
			t.Fatalf("header: %v", tok.Header)
		}
		if _, hasKid := tok.Header["kid"]; hasKid != (mode == "ES256") {
			t.Fatalf("kid presence wrong for %s: %v", mode, tok.Header)
		}
	})
	t.Run("A18/short TTL and unique jti", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.TokenTTL = 2 * time.Second })
		a, b := testkit.PeekJWT(t, e.tokens()["access_token"].(string), 1), testkit.PeekJWT(t, e.tokens()["access_token"].(string), 1)
		if a["exp"].(float64)-a["iat"].(float64) != 2 || a["jti"] == b["jti"] {
			t.Fatalf("a %v b %v", a, b)
		}
	})
}

// verifyToken validates an access token the way the backend does: strict
// golang-jwt parser against JWKS() (ES256) or the secret (HS256).
func verifyToken(t *testing.T, e *env, at string, secret []byte) *jwt.Token {
	t.Helper()
	opts := []jwt.ParserOption{jwt.WithIssuer(e.s.cfg.Issuer), jwt.WithAudience(e.s.cfg.Resources[0]),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(e.clock.Now), jwt.WithIssuedAt()}
	var kf jwt.Keyfunc
	if e.s.signer.method == jwt.SigningMethodHS256 {
		opts = append(opts, jwt.WithValidMethods([]string{"HS256"}))
		kf = func(*jwt.Token) (any, error) { return secret, nil }
	} else {
		opts = append(opts, jwt.WithValidMethods([]string{"ES256"}))
		kf = jwksKeyfunc(t, e.s.JWKS())
	}
	tok, err := jwt.NewParser(opts...).Parse(at, kf)
	testkit.NoErr(t, err, "token does not validate")
	return tok
}

// TestA9_A12_ConcurrentRedemption: of many simultaneous redemptions of one
// code or one refresh token, exactly one succeeds.
func TestA9_A12_ConcurrentRedemption(t *testing.T) {
	e := newEnv(t)
	code, v := e.freshCode()
	rt := e.tokens()["refresh_token"].(string)
	for name, try := range map[string]func() resp{
		"A9/code":     func() resp { return e.exchange(code, v) },
		"A12/refresh": func() resp { return e.refresh(rt) },
	} {
		t.Run(name, func(t *testing.T) {
			const n = 8
			results := make(chan int, n)
			for range n {
				go func() { results <- try().status }()
			}
			ok := 0
			for range n {
				if <-results == 200 {
					ok++
				}
			}
			if ok != 1 {
				t.Fatalf("%d of %d redemptions succeeded, want 1", ok, n)
			}
		})
	}
}
