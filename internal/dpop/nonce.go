package dpop

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// Nonces issues and checks server nonces (RFC 9449 §8, §9) without state:
// a nonce is a time step and an HMAC of it under a key of this process.
// A nonce is valid in its step and the next, so one lives between one and
// two steps. Safe for concurrent use.
type Nonces struct {
	key  [32]byte
	step time.Duration
	now  func() time.Time
}

// NewNonces returns a nonce source whose nonces change every step
// (default 5 minutes). now is the clock; nil means time.Now.
func NewNonces(step time.Duration, now func() time.Time) *Nonces {
	if step <= 0 {
		step = 5 * time.Minute
	}
	if now == nil {
		now = time.Now
	}
	n := &Nonces{step: step, now: now}
	_, _ = rand.Read(n.key[:])
	return n
}

func (n *Nonces) at(step int64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(step))
	m := hmac.New(sha256.New, n.key[:])
	m.Write(b[:])
	return b64.EncodeToString(append(b[:], m.Sum(nil)[:16]...))
}

func (n *Nonces) current() int64 { return n.now().UnixNano() / int64(n.step) }

// Current returns the nonce to send in DPoP-Nonce now.
func (n *Nonces) Current() string { return n.at(n.current()) }

// Valid reports whether s is the current nonce or the one before it.
func (n *Nonces) Valid(s string) bool {
	c := n.current()
	return hmac.Equal([]byte(s), []byte(n.at(c))) || hmac.Equal([]byte(s), []byte(n.at(c-1)))
}
