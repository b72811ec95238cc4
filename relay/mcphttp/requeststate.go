package mcphttp

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sync"
	"time"
)

// The requestState of an input_required result the proxy makes for a
// 2026-07-28 client of a 2025-era server (mrtr.go). It stands for a
// server call the proxy holds open, so it is treated as a capability:
// 256 random bits, bound to that call and to the original request's method
// and name, good for one retry, kept at most stateTTL, at most maxStates
// at once. The store keeps only its SHA-256, so a lookup's timing says
// nothing about the other states.
const (
	maxStates = 64
	stateTTL  = 30 * time.Minute // a person may be answering an elicitation
)

// ErrUnknownState refuses a retry whose requestState the proxy never made,
// has already taken, or let expire.
var ErrUnknownState = errors.New("mcphttp: unknown, expired or already used requestState")

// ErrStateMismatch refuses a retry that is not the request the state was
// made for.
var ErrStateMismatch = errors.New("mcphttp: requestState belongs to another request")

// ErrTooManyStates refuses a new state while maxStates are pending.
var ErrTooManyStates = errors.New("mcphttp: too many requests waiting for input")

// stateStore holds the pending round trips by the hash of their state.
// Safe for concurrent use.
type stateStore struct {
	mu      sync.Mutex
	max     int
	ttl     time.Duration
	now     func() time.Time
	entries map[[32]byte]*stateEntry
	closed  bool
}

type stateEntry struct {
	rt       *roundTrip
	method   string
	name     string
	deadline time.Time
	timer    *time.Timer // abandons rt at the deadline
}

func newStateStore() *stateStore {
	return &stateStore{max: maxStates, ttl: stateTTL, now: time.Now, entries: map[[32]byte]*stateEntry{}}
}

// put makes a state for rt, the pending call of method and name.
func (s *stateStore) put(rt *roundTrip, method, name string) (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	key := sha256.Sum256([]byte(token))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", ErrTooManyStates
	}
	s.purge()
	if len(s.entries) >= s.max {
		return "", ErrTooManyStates
	}
	e := &stateEntry{rt: rt, method: method, name: name, deadline: s.now().Add(s.ttl)}
	e.timer = time.AfterFunc(s.ttl, func() { s.expire(key, e) })
	s.entries[key] = e
	return token, nil
}

// take returns the round trip of token, once, if method and name match.
// A mismatched retry spends the state too: a state is good for one try.
func (s *stateStore) take(token, method, name string) (*roundTrip, error) {
	key := sha256.Sum256([]byte(token))
	s.mu.Lock()
	e := s.entries[key]
	delete(s.entries, key)
	s.mu.Unlock()
	switch {
	case e == nil:
		return nil, ErrUnknownState
	case !s.now().Before(e.deadline):
		e.timer.Stop()
		e.rt.abandon("the client did not answer in time")
		return nil, ErrUnknownState
	case e.method != method || e.name != name:
		e.timer.Stop()
		e.rt.abandon("the client answered with another request")
		return nil, ErrStateMismatch
	}
	e.timer.Stop()
	return e.rt, nil
}

// purge drops expired entries; s.mu is held.
func (s *stateStore) purge() {
	now := s.now()
	for k, e := range s.entries {
		if !now.Before(e.deadline) {
			delete(s.entries, k)
			e.timer.Stop()
			go e.rt.abandon("the client did not answer in time")
		}
	}
}

// expire drops e at its deadline, if it is still there.
func (s *stateStore) expire(key [32]byte, e *stateEntry) {
	s.mu.Lock()
	cur := s.entries[key]
	if cur == e {
		delete(s.entries, key)
	}
	s.mu.Unlock()
	if cur == e {
		e.rt.abandon("the client did not answer in time")
	}
}

// len is the number of pending states.
func (s *stateStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// close abandons every pending round trip, at the end of the session.
func (s *stateStore) close() {
	s.mu.Lock()
	entries := s.entries
	s.entries, s.closed = map[[32]byte]*stateEntry{}, true
	s.mu.Unlock()
	for _, e := range entries {
		e.timer.Stop()
		e.rt.abandon("the session ended")
	}
}
