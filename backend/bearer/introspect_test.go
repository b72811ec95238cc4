package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

const (
	introClient = "backend"
	introSecret = "introspection-secret-for-tests"
)

// fakeAS is an introspection endpoint on loopback. answer decides the
// response to a token; calls counts the requests that reached it.
type fakeAS struct {
	srv    *httptest.Server
	calls  atomic.Int32
	answer func(w http.ResponseWriter, token string)
}

func newFakeAS(t *testing.T, answer func(w http.ResponseWriter, token string)) *fakeAS {
	t.Helper()
	f := &fakeAS{answer: answer}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		id, sec, ok := r.BasicAuth()
		if !ok || id != introClient || sec != introSecret || r.Method != http.MethodPost {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		f.answer(w, r.PostFormValue("token"))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// respond answers every token with claims as JSON.
func respond(claims map[string]any) func(http.ResponseWriter, string) {
	return func(w http.ResponseWriter, _ string) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(claims)
	}
}

// activeAt is an introspection response for a good token at now.
func activeAt(now time.Time) map[string]any {
	c := claimsAt(now)
	c["active"] = true
	c["token_type"] = "access_token"
	return c
}

func newTestIntrospector(t *testing.T, f *fakeAS, mut func(*IntrospectionConfig)) *Introspector {
	t.Helper()
	cfg := IntrospectionConfig{Issuer: testIssuer, Audience: testAudience, Endpoint: f.srv.URL,
		ClientID: introClient, ClientSecret: introSecret, Now: func() time.Time { return testNow },
		Timeout: 500 * time.Millisecond}
	if mut != nil {
		mut(&cfg)
	}
	in, err := NewIntrospector(cfg)
	testkit.NoErr(t, err)
	t.Cleanup(in.Close)
	return in
}

const opaque = "opaque-token-3f9a1c77e2b04d6a"

func TestIntrospectionAcceptsActiveToken(t *testing.T) {
	f := newFakeAS(t, respond(activeAt(testNow)))
	tok, err := newTestIntrospector(t, f, nil).Validate(context.Background(), opaque)
	testkit.NoErr(t, err)
	if tok.Subject != "alice" || tok.ClientID != "relay" || !tok.HasScope("notes:write") {
		t.Fatalf("token %+v", tok)
	}
}

// Each response must be refused as an invalid token (401), not as an
// unavailable endpoint, and the reason must not hold the token.
func TestIntrospectionRefuses(t *testing.T) {
	cases := []struct {
		name, reason string
		mut          func(map[string]any)
		allowNoAud   bool
	}{
		{"inactive", "token not active", func(c map[string]any) { c["active"] = false }, false},
		{"inactive bare", "token not active", func(c map[string]any) {
			for k := range c {
				delete(c, k)
			}
			c["active"] = false
		}, false},
		{"expired", reasonExpired, func(c map[string]any) { c["exp"] = testNow.Add(-time.Second).Unix() }, false},
		{"no exp", "exp missing", func(c map[string]any) { delete(c, "exp") }, false},
		{"wrong audience", reasonAudience, func(c map[string]any) { c["aud"] = []string{"https://other.example"} }, false},
		{"no audience when required", "aud missing", func(c map[string]any) { delete(c, "aud") }, false},
		{"wrong issuer", reasonIssuer, func(c map[string]any) { c["iss"] = "https://evil.example" }, false},
		{"no sub", reasonSubject, func(c map[string]any) { delete(c, "sub") }, false},
		{"empty sub", reasonSubject, func(c map[string]any) { c["sub"] = "" }, false},
		{"refresh token", "not an access token", func(c map[string]any) { c["token_type"] = "refresh_token" }, false},
		{"refresh token as Ory Hydra answers", "not an access token", func(c map[string]any) {
			c["token_type"], c["token_use"] = "Bearer", "refresh_token"
		}, false},
		{"wrong audience even when absence allowed", reasonAudience, func(c map[string]any) { c["aud"] = "https://other.example" }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := activeAt(testNow)
			tc.mut(c)
			f := newFakeAS(t, respond(c))
			in := newTestIntrospector(t, f, func(cfg *IntrospectionConfig) { cfg.AllowNoAudience = tc.allowNoAud })
			_, err := in.Validate(context.Background(), opaque)
			var te *TokenError
			if !errors.As(err, &te) || te.Reason != tc.reason {
				t.Fatalf("err %v, want reason %q", err, tc.reason)
			}
			if strings.Contains(err.Error(), opaque) {
				t.Fatal("the error holds the token")
			}
		})
	}
}

func TestIntrospectionAllowsMissingAudienceOnlyWhenSet(t *testing.T) {
	c := activeAt(testNow)
	delete(c, "aud")
	delete(c, "iss") // iss is checked only when present
	f := newFakeAS(t, respond(c))
	tok, err := newTestIntrospector(t, f, func(cfg *IntrospectionConfig) { cfg.AllowNoAudience = true }).
		Validate(context.Background(), opaque)
	testkit.NoErr(t, err)
	if tok.Issuer != testIssuer {
		t.Fatalf("issuer %q", tok.Issuer)
	}
}

// wantUnavailable checks a fail-closed answer: ErrUnavailable, not a token.
func wantUnavailable(t *testing.T, tok *Token, err error) {
	t.Helper()
	if tok != nil || !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidToken) {
		t.Fatalf("got %+v, %v; want ErrUnavailable", tok, err)
	}
}

func TestIntrospectionEndpoint500FailsClosed(t *testing.T) {
	f := newFakeAS(t, func(w http.ResponseWriter, _ string) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"active":true}`))
	})
	in := newTestIntrospector(t, f, nil)
	tok, err := in.Validate(context.Background(), opaque)
	wantUnavailable(t, tok, err)
	// A failure is not cached as an answer: the next call asks again.
	tok, err = in.Validate(context.Background(), opaque)
	wantUnavailable(t, tok, err)
	if n := f.calls.Load(); n != 2 {
		t.Fatalf("%d introspections, want 2", n)
	}
}

func TestIntrospectionEndpointHangingIsTimeBounded(t *testing.T) {
	release := make(chan struct{})
	f := newFakeAS(t, func(http.ResponseWriter, string) { <-release })
	t.Cleanup(func() { close(release) }) // before the server's Close, which waits for handlers
	in := newTestIntrospector(t, f, nil)
	start := time.Now()
	tok, err := in.Validate(context.Background(), opaque)
	wantUnavailable(t, tok, err)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v; the timeout is 500 ms", d)
	}
}

func TestIntrospectionResponseOf10MiBIsRefused(t *testing.T) {
	f := newFakeAS(t, func(w http.ResponseWriter, _ string) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"active":true,"sub":"alice","pad":"`))
		chunk := []byte(strings.Repeat("a", 1<<20))
		for range 10 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		_, _ = w.Write([]byte(`"}`))
	})
	tok, err := newTestIntrospector(t, f, nil).Validate(context.Background(), opaque)
	wantUnavailable(t, tok, err)
	if !strings.Contains(err.Error(), "too large") {
		t.Fatalf("err %v", err)
	}
}

func TestIntrospectionResponseNotJSONFailsClosed(t *testing.T) {
	f := newFakeAS(t, func(w http.ResponseWriter, _ string) { _, _ = w.Write([]byte(`<html>login</html>`)) })
	tok, err := newTestIntrospector(t, f, nil).Validate(context.Background(), opaque)
	wantUnavailable(t, tok, err)
}

func TestIntrospection1000ConcurrentCallsOneRequest(t *testing.T) {
	release := make(chan struct{})
	good := activeAt(testNow)
	f := newFakeAS(t, func(w http.ResponseWriter, tok string) {
		<-release
		respond(good)(w, tok)
	})
	free := sync.OnceFunc(func() { close(release) })
	t.Cleanup(free) // on failure too, before the server's Close waits for its handlers
	in := newTestIntrospector(t, f, func(c *IntrospectionConfig) { c.Timeout = 30 * time.Second })
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := in.Validate(context.Background(), opaque)
			if err == nil && tok.Subject != "alice" {
				err = errors.New("wrong subject")
			}
			errs <- err
		}()
	}
	// Hold the one request until every other caller waits on it.
	testkit.Poll(t, 10*time.Second, "999 callers waiting on one introspection", func() bool {
		in.mu.Lock()
		defer in.mu.Unlock()
		for _, c := range in.flight {
			return c.waiters.Load() == n-1
		}
		return false
	})
	free()
	wg.Wait()
	close(errs)
	for err := range errs {
		testkit.NoErr(t, err)
	}
	if got := f.calls.Load(); got != 1 {
		t.Fatalf("%d introspections, want 1", got)
	}
}

func TestIntrospectionCachesUntilExpOrCap(t *testing.T) {
	now := testNow
	c := activeAt(testNow)
	c["exp"] = testNow.Add(20 * time.Second).Unix()
	f := newFakeAS(t, respond(c))
	in := newTestIntrospector(t, f, func(cfg *IntrospectionConfig) {
		cfg.Now = func() time.Time { return now }
		cfg.CacheTTL = 10 * time.Second
	})
	ctx := context.Background()
	for _, step := range []struct {
		at    time.Duration
		calls int32
		ok    bool
	}{
		{0, 1, true},
		{9 * time.Second, 1, true},   // cached
		{10 * time.Second, 2, true},  // the cap passed: asked again
		{19 * time.Second, 2, true},  // cached until exp
		{20 * time.Second, 3, false}, // exp passed: asked again, and refused
	} {
		now = testNow.Add(step.at)
		_, err := in.Validate(ctx, opaque)
		if (err == nil) != step.ok || f.calls.Load() != step.calls {
			t.Fatalf("at +%v: err %v, %d calls; want ok=%v, %d calls", step.at, err, f.calls.Load(), step.ok, step.calls)
		}
	}
}

func TestIntrospectionCachesRefusalBriefly(t *testing.T) {
	now := testNow
	f := newFakeAS(t, respond(map[string]any{"active": false}))
	in := newTestIntrospector(t, f, func(cfg *IntrospectionConfig) { cfg.Now = func() time.Time { return now } })
	for _, at := range []time.Duration{0, negativeCacheTTL - time.Second, negativeCacheTTL} {
		now = testNow.Add(at)
		if _, err := in.Validate(context.Background(), opaque); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("at +%v: %v", at, err)
		}
	}
	if n := f.calls.Load(); n != 2 {
		t.Fatalf("%d introspections, want 2 (one cached refusal)", n)
	}
}

func TestIntrospectionJWTShapedTokensGoToJWTValidation(t *testing.T) {
	f := newFakeAS(t, respond(map[string]any{"active": false}))
	jwtTok := signed(t, "HS256", claimsAt(testNow), nil)
	mixed := newTestIntrospector(t, f, func(cfg *IntrospectionConfig) { cfg.JWT = hmacValidator(t) })
	if _, err := mixed.Validate(context.Background(), jwtTok); err != nil || f.calls.Load() != 0 {
		t.Fatalf("mixed mode: %v, %d introspections", err, f.calls.Load())
	}
	// BACKEND_INTROSPECT_ALL: no JWT validator, so the JWT is introspected.
	all := newTestIntrospector(t, f, nil)
	if _, err := all.Validate(context.Background(), jwtTok); !errors.Is(err, ErrInvalidToken) || f.calls.Load() != 1 {
		t.Fatalf("introspect all: %v, %d introspections", err, f.calls.Load())
	}
}

// The same claims give the same Token whichever way they were checked.
func TestIntrospectionTokenMatchesJWTToken(t *testing.T) {
	claims := claimsAt(testNow)
	fromJWT, err := hmacValidator(t).Validate(context.Background(), signed(t, "HS256", claims, nil))
	testkit.NoErr(t, err)
	f := newFakeAS(t, respond(activeAt(testNow)))
	fromIntro, err := newTestIntrospector(t, f, nil).Validate(context.Background(), opaque)
	testkit.NoErr(t, err)
	fromJWT.KeyID = "" // the only field a JWT alone has
	a, b := mustJSON(t, fromJWT), mustJSON(t, fromIntro)
	if a != b {
		t.Fatalf("tokens differ:\njwt   %s\nintro %s", a, b)
	}
}

func TestNewIntrospectorRefusesBadConfig(t *testing.T) {
	good := IntrospectionConfig{Issuer: testIssuer, Audience: testAudience, Endpoint: "http://127.0.0.1:1/introspect",
		ClientID: introClient, ClientSecret: introSecret}
	for name, mut := range map[string]func(*IntrospectionConfig){
		"no endpoint": func(c *IntrospectionConfig) { c.Endpoint = "" },
		"file url":    func(c *IntrospectionConfig) { c.Endpoint = "file:///etc/passwd" },
		"no client":   func(c *IntrospectionConfig) { c.ClientID = "" },
		"no secret":   func(c *IntrospectionConfig) { c.ClientSecret = "" },
		"no audience": func(c *IntrospectionConfig) { c.Audience = "" },
	} {
		c := good
		mut(&c)
		if _, err := NewIntrospector(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestIntrospectionCacheOffAsksEveryTime(t *testing.T) {
	f := newFakeAS(t, respond(activeAt(testNow)))
	in := newTestIntrospector(t, f, func(cfg *IntrospectionConfig) { cfg.CacheTTL = -1 })
	for range 3 {
		_, err := in.Validate(context.Background(), opaque)
		testkit.NoErr(t, err)
	}
	if n := f.calls.Load(); n != 3 {
		t.Fatalf("%d introspections, want 3", n)
	}
}
