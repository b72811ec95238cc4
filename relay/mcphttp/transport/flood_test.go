package transport

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/front"
)

// P2: a server that sends a flood of requests on a call's stream, which
// the client never answers, gets at most MaxServerRequests of them passed
// on at once; the rest are dropped, the call still gets its response, and
// the answers are POSTed at most maxAnswerPOSTs at a time.
func TestP2_ServerRequestsBounded(t *testing.T) {
	const flood = 5000
	var posting, maxPosting, answers atomic.Int64
	s, _ := newTestStreamable(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), `"method":"tools/call"`) {
			n := posting.Add(1) // an answer
			defer posting.Add(-1)
			for m := maxPosting.Load(); n > m && !maxPosting.CompareAndSwap(m, n); m = maxPosting.Load() {
			}
			answers.Add(1)
			w.WriteHeader(http.StatusAccepted)
			return
		}
		events := make([]string, 0, flood+1)
		for i := range flood {
			events = append(events, fmt.Sprintf(`data: {"jsonrpc":"2.0","id":"srv-%d","method":"elicitation/create","params":{}}`, i))
		}
		sse(w, append(events, `data: {"jsonrpc":"2.0","id":1,"result":{"done":true}}`)...)
	})
	var mu sync.Mutex
	asked, waiting := 0, 0
	release := make(chan struct{})
	s.h.Ask = func(ctx context.Context, m *front.Message) (*front.Message, error) {
		mu.Lock()
		asked++
		waiting++
		if waiting > MaxServerRequests {
			t.Errorf("%d server requests answered at once", waiting)
		}
		mu.Unlock()
		select { // the client never answers, until the test is done
		case <-release:
		case <-ctx.Done():
		}
		mu.Lock()
		waiting--
		mu.Unlock()
		return front.Result(m.ID, []byte(`{"action":"decline"}`)), nil
	}
	resp, err := s.Call(t.Context(), rpc("1", "tools/call"))
	if err != nil || string(resp.Result) != `{"done":true}` {
		t.Fatalf("the call: %+v %v", resp, err)
	}
	mu.Lock()
	n := asked
	mu.Unlock()
	if n != MaxServerRequests {
		t.Fatalf("%d of %d server requests passed on, want %d", n, flood, MaxServerRequests)
	}
	close(release)
	testkit.Poll(t, 10*time.Second, "the answers", func() bool { return answers.Load() == MaxServerRequests })
	if m := maxPosting.Load(); m > maxAnswerPOSTs {
		t.Fatalf("%d answers POSTed at once, want at most %d", m, maxAnswerPOSTs)
	}
}
