package dpop

import (
	"sync"
	"time"
)

// replayCache remembers the jti of each accepted proof until the proof
// would be too old anyway, per key thumbprint: one key cannot crowd out
// another's entries beyond its own share. It is bounded: when a key's
// share or the number of keys is full even after expired entries are
// dropped, the proof is refused, not accepted unrecorded.
type replayCache struct {
	mu      sync.Mutex
	maxKeys int
	perKey  int
	keys    map[string]map[string]time.Time // jkt → jti → expiry
	sweep   time.Time                       // next full sweep
}

func newReplayCache(maxKeys, perKey int) *replayCache {
	if maxKeys <= 0 {
		maxKeys = 8192
	}
	if perKey <= 0 {
		perKey = 4096
	}
	return &replayCache{maxKeys: maxKeys, perKey: perKey, keys: map[string]map[string]time.Time{}}
}

// add records jti for jkt until exp, or fails if it is already there.
func (c *replayCache) add(jkt, jti string, exp, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.After(c.sweep) {
		c.sweepAll(now)
		c.sweep = now.Add(time.Minute)
	}
	seen, ok := c.keys[jkt]
	if !ok {
		if len(c.keys) >= c.maxKeys {
			c.sweepAll(now)
			if len(c.keys) >= c.maxKeys {
				return invalid("too many proofs; try again")
			}
		}
		seen = map[string]time.Time{}
		c.keys[jkt] = seen
	}
	if e, ok := seen[jti]; ok && now.Before(e) {
		return invalid("proof replayed")
	}
	if len(seen) >= c.perKey {
		sweepKey(seen, now)
		if len(seen) >= c.perKey {
			return invalid("too many proofs; try again")
		}
	}
	seen[jti] = exp
	return nil
}

func (c *replayCache) sweepAll(now time.Time) {
	for k, seen := range c.keys {
		if sweepKey(seen, now) == 0 {
			delete(c.keys, k)
		}
	}
}

func sweepKey(seen map[string]time.Time, now time.Time) int {
	for j, e := range seen {
		if !now.Before(e) {
			delete(seen, j)
		}
	}
	return len(seen)
}
