package dpop

import (
	"crypto/sha256"
	"sync"
	"time"
)

// replayCache remembers the jti of each accepted proof, per key
// thumbprint, until the proof would be too old anyway. It is bounded in
// entries overall and per key, so that one key (one holder of a valid
// token) cannot fill it for the others; a proof that would pass a bound
// is refused, never accepted unrecorded. A jti is kept as 16 bytes of its
// SHA-256, so a long jti costs no more memory than a short one: about
// 140 bytes an entry (measured with runtime.MemStats at the default bound).
//
// Entries leave from the front of a queue in the order they came, once
// expired: each add costs the entries it drops, never a scan of the whole
// cache, so a client at its bound is refused in constant time. An entry
// that expires before one ahead of it (a proof with an older iat) stays
// until that one goes, at most the window and twice the leeway after it
// came: remembered a little longer, never less.
type replayCache struct {
	mu         sync.Mutex
	maxEntries int
	perKey     int
	seen       map[replayKey]int64 // → expiry (Unix ns)
	perJKT     map[[16]byte]int    // entries per key
	queue      []replayEntry       // in the order added; queue[head:] are live
	head       int
}

// replayKey is a proof's key thumbprint and jti, each as 16 bytes of its
// SHA-256: fixed size and no pointers, so the collector never scans the
// cache.
type replayKey struct{ jkt, jti [16]byte }

func digest(s string) (d [16]byte) {
	sum := sha256.Sum256([]byte(s))
	copy(d[:], sum[:16])
	return d
}

type replayEntry struct {
	k   replayKey
	exp int64
}

// Default bounds: 262,144 entries (about 37 MB) in all, 65,536 per key,
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
	return &replayCache{maxEntries: maxEntries, perKey: perKey, seen: map[replayKey]int64{}, perJKT: map[[16]byte]int{}}
}

// add records jti for jkt until exp, or fails if it is already there or
// a bound is reached.
func (c *replayCache) add(jkt, jti string, exp, now time.Time) error {
	k := replayKey{jkt: digest(jkt), jti: digest(jti)}
	n := now.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(n)
	e, known := c.seen[k]
	switch {
	case known && n < e:
		return invalid("proof replayed")
	case !known && c.perJKT[k.jkt] >= c.perKey:
		return invalid("too many proofs; try again")
	case !known && len(c.seen) >= c.maxEntries:
		return invalid("too many proofs; try again")
	}
	// known here is an expired entry still queued behind a live one: it
	// is counted already, and its old queue entry no longer matches.
	if !known {
		c.perJKT[k.jkt]++
	}
	c.seen[k] = exp.UnixNano()
	c.queue = append(c.queue, replayEntry{k: k, exp: exp.UnixNano()})
	return nil
}

// expire drops the expired entries at the front of the queue.
func (c *replayCache) expire(now int64) {
	for c.head < len(c.queue) && c.queue[c.head].exp <= now {
		e := c.queue[c.head]
		c.queue[c.head] = replayEntry{}
		c.head++
		if c.seen[e.k] != e.exp {
			continue // added again since, with a later expiry
		}
		delete(c.seen, e.k)
		if c.perJKT[e.k.jkt]--; c.perJKT[e.k.jkt] == 0 {
			delete(c.perJKT, e.k.jkt)
		}
	}
	if c.head > 1024 && c.head > len(c.queue)/2 {
		c.queue = c.queue[:copy(c.queue, c.queue[c.head:])]
		c.head = 0
	}
}
