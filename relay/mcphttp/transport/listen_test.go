package transport

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/relay/front"
)

// waits records the waits of s's GET stream and ends it after n of them.
type waits struct {
	mu    sync.Mutex
	d     []time.Duration
	woken []bool // the wait would end early on a POST
}

func (w *waits) install(s *Streamable, n int) {
	s.wait = func(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.d, w.woken = append(w.d, d), append(w.woken, wake != nil)
		if len(w.d) >= n {
			s.cancel()
			return false
		}
		return ctx.Err() == nil
	}
}

// A GET stream refused for an expired token backs off exponentially to
// listenMax, logs once, and would retry early once a POST goes through
// (and refreshes the token).
func TestListenBackoff(t *testing.T) {
	gets := 0
	s, log := newTestStreamable(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			gets++
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	var w waits
	w.install(s, 8)
	s.listenLoop(make(chan struct{}))
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30, 30}
	for i := range want {
		want[i] *= time.Second
	}
	if len(w.d) != len(want) || gets != len(want) {
		t.Fatalf("%d GETs, waits %v; want %v", gets, w.d, want)
	}
	for i := range want {
		if w.d[i] != want[i] || !w.woken[i] {
			t.Fatalf("waits %v (woken %v), want %v", w.d, w.woken, want)
		}
	}
	if n := strings.Count(log.String(), "level=INFO"); n != 1 || !strings.Contains(log.String(), "retrying with backoff") {
		t.Fatalf("%d Info lines, want 1:\n%s", n, log)
	}
	// A POST that goes through wakes the wait.
	s2, _ := newTestStreamable(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
	if err := s2.Send(t.Context(), rpc("", "notifications/x")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s2.wake:
	default:
		t.Fatal("a POST did not wake the GET stream")
	}
}

// The GET stream is reopened with Last-Event-ID after it ends; a stream
// that delivered events resets the backoff; the server's retry time is
// capped; other failures are not woken by POSTs; 405 ends it.
func TestListenReopens(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	s, log := newTestStreamable(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Last-Event-ID"))
		n := len(seen)
		mu.Unlock()
		if r.Header.Get("Accept") != "text/event-stream" {
			t.Errorf("Accept %q", r.Header.Get("Accept"))
		}
		switch n {
		case 1:
			sse(w, "id: g1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"n/1\"}")
		case 2:
			w.WriteHeader(http.StatusBadGateway)
		case 3:
			w.WriteHeader(http.StatusBadRequest) // the server forgot g1
		case 4:
			sse(w, "id: g2\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"n/2\"}", "data: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}")
		case 5:
			sse(w, "retry: 99999999") // no event: the wait grows from the server's retry, up to listenMax
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	})
	var notes []string
	s.h.Note = func(m *front.Message) { notes = append(notes, m.Method) }
	var w waits
	w.install(s, 100)
	s.listenLoop(make(chan struct{}))
	if strings.Join(seen, ",") != ",g1,g1,,g2,g2" {
		t.Fatalf("Last-Event-ID sent: %q", seen)
	}
	if strings.Join(notes, " ") != "n/1 n/2" {
		t.Fatalf("notifications %v", notes)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, time.Second, 30 * time.Second}
	if len(w.d) != len(want) {
		t.Fatalf("waits %v, want %v", w.d, want)
	}
	for i := range want {
		if w.d[i] != want[i] || w.woken[i] {
			t.Fatalf("waits %v (woken %v), want %v", w.d, w.woken, want)
		}
	}
	if !strings.Contains(log.String(), "offers no event stream") || !strings.Contains(log.String(), "open again") {
		t.Fatalf("log:\n%s", log)
	}
}
