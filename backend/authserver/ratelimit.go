package authserver

import (
	"sync"
	"time"
)

// limiter counts failures per key in a sliding window. A key with max
// failures inside the window is blocked until the oldest one ages out.
type limiter struct {
	mu     sync.Mutex
	now    func() time.Time
	max    int
	window time.Duration
	fails  map[string][]time.Time
}

const maxLimiterKeys = 100000

func newLimiter(now func() time.Time, max int, window time.Duration) *limiter {
	return &limiter{now: now, max: max, window: window, fails: map[string][]time.Time{}}
}

// blocked reports whether any key has reached the limit.
func (l *limiter) blocked(keys ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		if len(l.recent(k, now)) >= l.max {
			return true
		}
	}
	return false
}

// fail records one failure for each key.
func (l *limiter) fail(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.fails) > maxLimiterKeys {
		l.prune(now)
	}
	for _, k := range keys {
		r := l.recent(k, now)
		if len(r) >= l.max {
			r = r[1:]
		}
		l.fails[k] = append(r, now)
	}
}

// recent drops failures older than the window. Callers hold mu.
func (l *limiter) recent(k string, now time.Time) []time.Time {
	r := l.fails[k]
	i := 0
	for i < len(r) && now.Sub(r[i]) >= l.window {
		i++
	}
	r = r[i:]
	if len(r) == 0 {
		delete(l.fails, k)
		return nil
	}
	l.fails[k] = r
	return r
}

func (l *limiter) prune(now time.Time) {
	for k := range l.fails {
		l.recent(k, now)
	}
}

// Login failure limits (A6; issue 14, F3). Per source address: 5 a
// minute, whatever user names it tries. Per user, a slower brake: once a
// user has brakeFails failures within brakeWindow, from anywhere, an
// address may fail for that user at most brakeAddrFails times in the
// window. An address that has not failed for the user is never braked, so
// guessing one password from many addresses is bounded (about
// brakeAddrFails per address an hour), while a third party failing on
// purpose cannot lock the user out from the user's own address.
const (
	addrFails      = 5
	addrWindow     = time.Minute
	brakeFails     = 20
	brakeAddrFails = 3
	brakeWindow    = time.Hour
)

// userBrake is the per-user brake: failures per user, and per user and
// address.
type userBrake struct {
	user, userAddr *limiter
}

func newUserBrake(now func() time.Time) *userBrake {
	return &userBrake{user: newLimiter(now, brakeFails, brakeWindow), userAddr: newLimiter(now, brakeAddrFails, brakeWindow)}
}

// blocked reports whether the brake is on for user and addr has failed
// for user too often.
func (b *userBrake) blocked(user, addr string) bool {
	return b.user.blocked(user) && b.userAddr.blocked(user+"\x00"+addr)
}

func (b *userBrake) fail(user, addr string) {
	b.user.fail(user)
	b.userAddr.fail(user + "\x00" + addr)
}
