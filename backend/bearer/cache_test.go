package bearer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// countingHMAC is an HS256 Validator whose key lookups (one per signature
// check) are counted, on a clock the test moves, with key rotation.
type countingHMAC struct {
	v       *Validator
	lookups atomic.Int64
	mu      sync.Mutex
	now     time.Time
	key     []byte
}

func newCountingHMAC(t *testing.T, size int) *countingHMAC {
	c := &countingHMAC{now: testNow, key: testSecret}
	cfg := Config{Issuer: testIssuer, Audience: testAudience, CacheSize: size, Now: func() time.Time {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.now
	}}
	v, err := newValidator(cfg, []string{"HS256"}, func(context.Context, string, kidHeader) (any, error) {
		c.lookups.Add(1)
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.key, nil
	}, nil)
	testkit.NoErr(t, err)
	c.v = v
	return c
}

func (c *countingHMAC) advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func TestCacheSkipsOnlyTheSignatureCheck(t *testing.T) {
	c := newCountingHMAC(t, 0)
	tok := signed(t, "HS256", claimsAt(testNow), nil)
	first, err := c.v.Validate(bg, tok)
	testkit.NoErr(t, err)
	first.Audience[0] = "mutated by a caller"
	second, err := c.v.Validate(bg, tok)
	if err != nil || c.lookups.Load() != 1 {
		t.Fatalf("second validation: %v, %d signature checks (want 1)", err, c.lookups.Load())
	}
	if second.Subject != "alice" || second.Audience[0] != testAudience || second.ID != "jti-1" {
		t.Fatalf("cached result differs: %+v", second)
	}

	// Expiry is exact: the claims are checked again on every hit.
	c.advance(10*time.Minute + 31*time.Second) // past exp and the 30 s leeway
	if _, err := c.v.Validate(bg, tok); !errors.Is(err, ErrInvalidToken) || err.Error() != invalid(reasonExpired).Error() {
		t.Fatalf("expired token from the cache: %v", err)
	}
}

// A key that leaves the key set stops verifying cached tokens within the
// cache's time to live.
func TestCacheEntriesExpireForKeyRotation(t *testing.T) {
	c := newCountingHMAC(t, 0)
	claims := claimsAt(testNow)
	claims["exp"] = testNow.Add(time.Hour).Unix()
	tok := signed(t, "HS256", claims, nil)
	if _, err := c.v.Validate(bg, tok); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.key = []byte("a-rotated-secret-0123456789-abcdefghij")
	c.mu.Unlock()
	c.advance(cacheTTL - time.Second)
	if _, err := c.v.Validate(bg, tok); err != nil {
		t.Fatalf("within the TTL the cached verification stands: %v", err)
	}
	c.advance(time.Second)
	testkit.WantIs(t, testkit.ErrOf(c.v.Validate(bg, tok)), ErrInvalidToken, "a token of a rotated-out key was accepted after the cache TTL")
}

func TestCacheHoldsOnlyVerifiedTokensAndStaysBounded(t *testing.T) {
	c := newCountingHMAC(t, 8)
	good := signed(t, "HS256", claimsAt(testNow), nil)
	forged := good[:len(good)-4] + "AAAA"
	for range 3 {
		testkit.WantIs(t, testkit.ErrOf(c.v.Validate(bg, forged)), ErrInvalidToken, "forged token accepted")
	}
	if n := c.v.cache.len(); n != 0 {
		t.Fatalf("a forged token was cached (%d entries)", n)
	}
	if c.lookups.Load() != 3 {
		t.Fatalf("forged token not checked each time: %d", c.lookups.Load())
	}
	for i := range 50 {
		cl := claimsAt(testNow)
		cl["jti"] = fmt.Sprintf("jti-%d", i)
		if _, err := c.v.Validate(bg, signed(t, "HS256", cl, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.v.cache.len(); n != 8 {
		t.Fatalf("cache holds %d entries, want its size 8", n)
	}
}

func TestCacheOff(t *testing.T) {
	c := newCountingHMAC(t, -1)
	tok := signed(t, "HS256", claimsAt(testNow), nil)
	for range 3 {
		if _, err := c.v.Validate(bg, tok); err != nil {
			t.Fatal(err)
		}
	}
	if c.lookups.Load() != 3 {
		t.Fatalf("CacheSize -1: %d signature checks, want 3", c.lookups.Load())
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := newCountingHMAC(t, 4)
	toks := make([]string, 16)
	for i := range toks {
		cl := claimsAt(testNow)
		cl["sub"] = fmt.Sprintf("user-%d", i)
		toks[i] = signed(t, "HS256", cl, nil)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				n := (w + i) % len(toks)
				got, err := c.v.Validate(bg, toks[n])
				if err != nil || got.Subject != fmt.Sprintf("user-%d", n) {
					t.Errorf("token %d: %v %v", n, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
