package bearer

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// countingServer serves body at every path and counts requests. It fails
// the test if a request carries an Authorization header (B27: a received
// token is never forwarded).
func countingServer(t *testing.T, body []byte) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if r.Header.Get("Authorization") != "" {
			t.Errorf("outbound request carried an Authorization header")
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

type jwksServer struct {
	mu   sync.Mutex
	body []byte
	mode string // "", "down", "slow", "huge"
	hits atomic.Int64
	slow chan struct{}
}

func (s *jwksServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	if r.Header.Get("Authorization") != "" {
		panic("B27: token forwarded to the JWKS server")
	}
	s.mu.Lock()
	mode, body := s.mode, s.body
	s.mu.Unlock()
	switch mode {
	case "down":
		http.Error(w, "down", http.StatusServiceUnavailable)
	case "slow":
		select {
		case <-s.slow:
		case <-r.Context().Done():
		}
	case "huge":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"keys":[` + strings.Repeat(`{"kty":"EC"},`, 200_000) + `{}]}`))
	default:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
}

func (s *jwksServer) set(mode string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = mode
	if body != nil {
		s.body = body
	}
}

func remoteValidator(t *testing.T, js *jwksServer, o KeySetOptions) (*Validator, string) {
	t.Helper()
	srv := httptest.NewServer(js)
	t.Cleanup(srv.Close)
	v, err := NewKeySet(context.Background(), Config{Issuer: testIssuer, Audience: testAudience, Now: func() time.Time { return testNow }}, srv.URL+"/jwks", o)
	testkit.NoErr(t, err)
	t.Cleanup(v.Close)
	return v, srv.URL
}

func TestB11_UnknownKIDFloodIsRateLimited(t *testing.T) {
	js := &jwksServer{body: jwks(t)}
	v, _ := remoteValidator(t, js, KeySetOptions{UnknownKIDInterval: time.Hour})
	start := js.hits.Load() // the initial fetch
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := signed(t, "ES256", claimsAt(testNow), map[string]any{"kid": fmt.Sprintf("random-%d", i)})
			testkit.ExpectIs(t, testkit.ErrOf(v.Validate(bg, tok)), ErrInvalidToken, "unknown kid accepted")
		}()
	}
	wg.Wait()
	if extra := js.hits.Load() - start; extra > 1 {
		t.Fatalf("200 unknown kids caused %d JWKS fetches, want at most 1", extra)
	}
	// Known keys still work.
	if _, err := v.Validate(bg, signed(t, "ES256", claimsAt(testNow), nil)); err != nil {
		t.Fatal(err)
	}
}

func TestB11_RotationPickedUpOnUnknownKID(t *testing.T) {
	js := &jwksServer{body: []byte(`{"keys":[]}`)}
	v, _ := remoteValidator(t, js, KeySetOptions{UnknownKIDInterval: time.Millisecond})
	js.set("", jwks(t)) // the issuer rotates its keys in
	if _, err := v.Validate(bg, signed(t, "RS256", claimsAt(testNow), nil)); err != nil {
		t.Fatalf("rotated key not picked up: %v", err)
	}
}

func TestB24_JWKSFailuresKeepCachedKeys(t *testing.T) {
	for _, mode := range []string{"down", "slow", "huge"} {
		t.Run(mode, func(t *testing.T) {
			js := &jwksServer{body: jwks(t), slow: make(chan struct{})}
			defer close(js.slow)
			v, _ := remoteValidator(t, js, KeySetOptions{UnknownKIDInterval: time.Millisecond, Timeout: 300 * time.Millisecond})
			js.set(mode, nil)
			// An unknown kid forces a refresh that fails; it must not hang
			// past the timeout, and cached keys keep working after it.
			start := time.Now()
			expectInvalid(t, v, signed(t, "ES256", claimsAt(testNow), map[string]any{"kid": "new"}))
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("refresh took %v", d)
			}
			if _, err := v.Validate(bg, signed(t, "EdDSA", claimsAt(testNow), nil)); err != nil {
				t.Fatalf("cached key lost after %s refresh: %v", mode, err)
			}
		})
	}
}

func TestB24_UnsuitableKeysIgnored(t *testing.T) {
	k := getKeys(t)
	pub := k.ec.PublicKey
	extra := []string{
		`{"kty":"oct","kid":"oct","k":"` + b64(testSecret) + `"}`,
		`{"kty":"EC","kid":"enc","use":"enc","crv":"P-256",` + ecXY(t, &pub) + `}`,
		`{"kty":"EC","kid":"wrongalg","alg":"ES384","crv":"P-256",` + ecXY(t, &pub) + `}`,
	}
	js := &jwksServer{body: jwks(t, extra...)}
	v, _ := remoteValidator(t, js, KeySetOptions{})
	for _, kid := range []string{"oct", "enc", "wrongalg"} {
		tok := signed(t, "ES256", claimsAt(testNow), map[string]any{"kid": kid})
		expectInvalid(t, v, tok)
	}
}

func TestB24_HugeOrDownJWKSAtStart(t *testing.T) {
	for _, mode := range []string{"huge", "down"} {
		js := &jwksServer{mode: mode}
		srv := httptest.NewServer(js)
		_, err := NewKeySet(context.Background(), Config{Issuer: testIssuer, Audience: testAudience}, srv.URL, KeySetOptions{Timeout: time.Second})
		srv.Close()
		testkit.WantIs(t, err, ErrConfig, "%s JWKS at start: want ErrConfig", mode)
	}
}

func TestCappedClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			_, _ = w.Write(make([]byte, 2048))
		case "/exact":
			_, _ = w.Write(make([]byte, 1024))
		case "/away":
			http.Redirect(w, r, "http://127.0.0.2:1/x", http.StatusFound)
		}
	}))
	defer srv.Close()
	c := CappedClient(time.Second, 1024)
	read := func(p string) error {
		resp, err := c.Get(srv.URL + p)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		return err
	}
	testkit.WantIs(t, read("/big"), ErrTooLarge, "big")
	testkit.NoErr(t, read("/exact"), "exact")
	if err := read("/away"); err == nil || !strings.Contains(err.Error(), "redirect refused") {
		t.Fatalf("cross-host redirect followed: %v", err)
	}
}
