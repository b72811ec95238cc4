package testkit

import (
	"net/http"
	"runtime"
	"testing"
	"time"
)

// pollEvery is how often Eventually checks its condition.
const pollEvery = 20 * time.Millisecond

// Eventually reports whether cond holds within d. It checks at once, then
// every 20 ms; the timers it uses are stopped when it returns.
func Eventually(d time.Duration, cond func() bool) bool {
	if cond() {
		return true
	}
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
			if cond() {
				return true
			}
		}
	}
}

// Poll fails the test unless cond holds within d; what names the awaited
// state in the failure ("timed out waiting for " + what).
func Poll(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Eventually(d, cond) {
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// SettleGoroutines waits until at most base+margin goroutines run (idle
// pooled connections of http.DefaultTransport are closed: they are not
// leaks), and fails with a dump of every goroutine if they do not within
// 10 s. Finalizers and cleanups run on goroutines of their own for a
// while after a GC.
func SettleGoroutines(t testing.TB, base, margin int) {
	t.Helper()
	ok := Eventually(10*time.Second, func() bool {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		return runtime.NumGoroutine() <= base+margin
	})
	if !ok {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("%d goroutines, baseline %d (+%d allowed): a leak\n%s", runtime.NumGoroutine(), base, margin, buf)
	}
	t.Logf("goroutines back to %d (baseline %d)", runtime.NumGoroutine(), base)
}
