package dpop

import (
	"crypto/sha256"
	"sync"
	"time"
)

// replayCache remembers the jti of each accepted proof until the proof
// would be too old anyway, per key thumbprint. It is bounded in entries
// overall and per key, so that one key (one holder of a valid token)
// cannot fill it for the others; when a bound is reached even after the
// expired entries are dropped, the proof is refused, never accepted
// unrecorded. A jti is kept as 16 bytes of its SHA-256, so a long jti
// costs no more memory than a short one: an entry is about 50 bytes.
type replayCache struct {
	mu         sync.Mutex
	maxEntries int
	perKey     int
	total      int
	keys       map[string]map[[16]byte]int64 // jkt → jti hash → expiry (Unix ns)
	sweep      time.Time                     // next full sweep
}

// Default bounds: 262,144 entries (about 13 MB) in all, 65,536 per key,
// which a client sending 1,000 requests a second for the whole window
// stays under.
const (
	defaultReplayEntries = 1 << 18
	defaultReplayPerKey  = 1 << 16
)

func newReplayCache(maxEntries, perKey int) *replayCache {
	if maxEntries <= 0 {
		maxEntries = defaultReplayEntries
	}
	if perKey <= 0 {
		perKey = defaultReplayPerKey
	}
	return &replayCache{maxEntries: maxEntries, perKey: perKey, keys: map[string]map[[16]byte]int64{}}
}

// add records jti for jkt until exp, or fails if it is already there or
// the cache is full.
func (c *replayCache) add(jkt, jti string, exp, now time.Time) error {
	sum := sha256.Sum256([]byte(jti))
	var h [16]byte
	copy(h[:], sum[:16])
	n := now.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.After(c.sweep) {
		c.sweepAll(n)
		c.sweep = now.Add(time.Minute)
	}
	seen := c.keys[jkt]
	if e, ok := seen[h]; ok && n < e {
		return invalid("proof replayed")
	}
	if len(seen) >= c.perKey {
		c.total -= sweepKey(seen, n)
		if len(seen) >= c.perKey {
			return invalid("too many proofs; try again")
		}
	}
	if c.total >= c.maxEntries {
		c.sweepAll(n)
		if c.total >= c.maxEntries {
			return invalid("too many proofs; try again")
		}
	}
	if seen == nil {
		seen = map[[16]byte]int64{}
		c.keys[jkt] = seen
	}
	if _, ok := seen[h]; !ok {
		c.total++
	}
	seen[h] = exp.UnixNano()
	return nil
}

func (c *replayCache) sweepAll(now int64) {
	for k, seen := range c.keys {
		c.total -= sweepKey(seen, now)
		if len(seen) == 0 {
			delete(c.keys, k)
		}
	}
}

// sweepKey drops the expired entries of seen and returns how many.
func sweepKey(seen map[[16]byte]int64, now int64) int {
	n := 0
	for j, e := range seen {
		if now >= e {
			delete(seen, j)
			n++
		}
	}
	return n
}
