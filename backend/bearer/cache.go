package bearer

import (
	"crypto/sha256"
	"sync"
	"time"
)

// The verified-token cache spares a client that calls again and again with
// the same token the signature check (for ES256, more than a whole loopback
// request). Only tokens that passed every check are cached, keyed by the
// SHA-256 of the token; a hit runs the time, issuer, audience and lifetime
// checks again against the clock, so expiry is exact. An entry lives at
// most cacheTTL: a key removed from the JWKS stops counting within that
// long (the key set itself is refreshed hourly). The cache holds at most
// its size in entries; when full, an arbitrary entry makes room.

const (
	// DefaultCacheSize is the default number of cached verified tokens.
	DefaultCacheSize = 1024
	cacheTTL         = time.Minute
)

type cacheEntry struct {
	claims claims
	kid    kidHeader
	added  time.Time
}

type verifiedCache struct {
	mu   sync.Mutex
	max  int
	seen map[[sha256.Size]byte]*cacheEntry
}

func newVerifiedCache(size int) *verifiedCache {
	if size <= 0 {
		return nil
	}
	return &verifiedCache{max: size, seen: make(map[[sha256.Size]byte]*cacheEntry, size)}
}

// get returns the entry for the token with hash h, if it is fresh.
func (c *verifiedCache) get(h [sha256.Size]byte, now time.Time) (*cacheEntry, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.seen[h]
	if ok && !now.Before(e.added.Add(cacheTTL)) {
		delete(c.seen, h)
		return nil, false
	}
	return e, ok
}

// put caches a verified token's claims.
func (c *verifiedCache) put(h [sha256.Size]byte, e *cacheEntry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[h]; !ok && len(c.seen) >= c.max {
		for k := range c.seen { // map order is random: an arbitrary victim
			delete(c.seen, k)
			break
		}
	}
	c.seen[h] = e
}

func (c *verifiedCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
