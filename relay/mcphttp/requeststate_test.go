package mcphttp

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// testTrip is a round trip that records whether it was abandoned.
func testTrip() (*roundTrip, func() bool) {
	var mu sync.Mutex
	abandoned := false
	rt := &roundTrip{done: make(chan struct{})}
	rt.abandon = func(string) {
		mu.Lock()
		abandoned = true
		mu.Unlock()
	}
	return rt, func() bool { mu.Lock(); defer mu.Unlock(); return abandoned }
}

func newTestStore(max int) (*stateStore, *testkit.StepClock) {
	c := testkit.NewStepClock(time.Unix(1_800_000_000, 0))
	s := newStateStore()
	s.max, s.now = max, c.Now
	return s, c
}

// A requestState is random, long, good for one retry of the request it
// was made for, and refused after its time; unknown states are refused;
// at most max are pending.
func TestStateStore(t *testing.T) {
	t.Run("single use", func(t *testing.T) {
		s, _ := newTestStore(4)
		rt, _ := testTrip()
		tok, err := s.put(rt, "tools/call", "ask")
		if err != nil || len(tok) < 43 {
			t.Fatalf("put: %q %v", tok, err)
		}
		if got, err := s.take(tok, "tools/call", "ask"); got != rt || err != nil {
			t.Fatalf("take: %v %v", got, err)
		}
		if _, err := s.take(tok, "tools/call", "ask"); !errors.Is(err, ErrUnknownState) {
			t.Fatalf("second take: %v, want ErrUnknownState", err)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		s, _ := newTestStore(4)
		rt, _ := testTrip()
		tok, _ := s.put(rt, "tools/call", "ask")
		for _, bad := range []string{"", "bogus", tok[:len(tok)-1], tok + "A"} {
			if _, err := s.take(bad, "tools/call", "ask"); !errors.Is(err, ErrUnknownState) {
				t.Fatalf("take(%q): %v, want ErrUnknownState", bad, err)
			}
		}
		if s.len() != 1 {
			t.Fatal("a wrong state spent the right one")
		}
	})
	t.Run("expiry", func(t *testing.T) {
		s, c := newTestStore(4)
		rt, abandoned := testTrip()
		tok, _ := s.put(rt, "tools/call", "ask")
		c.Advance(stateTTL)
		if _, err := s.take(tok, "tools/call", "ask"); !errors.Is(err, ErrUnknownState) || !abandoned() {
			t.Fatalf("expired take: %v, abandoned %v", err, abandoned())
		}
	})
	t.Run("bound to the request", func(t *testing.T) {
		s, _ := newTestStore(4)
		rt, abandoned := testTrip()
		tok, _ := s.put(rt, "tools/call", "ask")
		if _, err := s.take(tok, "tools/call", "whoami"); !errors.Is(err, ErrStateMismatch) || !abandoned() {
			t.Fatalf("other tool: %v, abandoned %v", err, abandoned())
		}
		rt2, _ := testTrip()
		tok, _ = s.put(rt2, "tools/call", "ask")
		if _, err := s.take(tok, "prompts/get", "ask"); !errors.Is(err, ErrStateMismatch) {
			t.Fatalf("other method: %v", err)
		}
		if _, err := s.take(tok, "tools/call", "ask"); !errors.Is(err, ErrUnknownState) {
			t.Fatalf("after a mismatch: %v, want the state spent", err)
		}
	})
	t.Run("cap", func(t *testing.T) {
		s, c := newTestStore(2)
		var toks []string
		for range 2 {
			rt, _ := testTrip()
			tok, err := s.put(rt, "tools/call", "ask")
			testkit.NoErr(t, err)
			toks = append(toks, tok)
		}
		if toks[0] == toks[1] {
			t.Fatal("two states are equal")
		}
		rt, _ := testTrip()
		if _, err := s.put(rt, "tools/call", "ask"); !errors.Is(err, ErrTooManyStates) {
			t.Fatalf("third put: %v, want ErrTooManyStates", err)
		}
		testkit.NoErr(t, testkit.ErrOf(s.take(toks[0], "tools/call", "ask")))
		testkit.NoErr(t, testkit.ErrOf(s.put(rt, "tools/call", "ask")), "put after a take")
		c.Advance(stateTTL) // expired states make room
		rt2, _ := testTrip()
		if _, err := s.put(rt2, "tools/call", "ask"); err != nil || s.len() != 1 {
			t.Fatalf("put after expiry: %v, %d pending", err, s.len())
		}
	})
	t.Run("close", func(t *testing.T) {
		s, _ := newTestStore(4)
		rt, abandoned := testTrip()
		tok, _ := s.put(rt, "tools/call", "ask")
		s.close()
		if _, err := s.take(tok, "tools/call", "ask"); !errors.Is(err, ErrUnknownState) || !abandoned() {
			t.Fatalf("after close: %v, abandoned %v", err, abandoned())
		}
	})
}

// The timer abandons a round trip nobody retried.
func TestStateStoreTimerAbandons(t *testing.T) {
	s := newStateStore()
	s.ttl = time.Millisecond
	rt, _ := testTrip()
	done := make(chan struct{})
	rt.abandon = func(string) { close(done) }
	testkit.NoErr(t, testkit.ErrOf(s.put(rt, "tools/call", "ask")))
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the expired state was not abandoned")
	}
	if s.len() != 0 {
		t.Fatal("the expired state is still there")
	}
}
