package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/front"
)

// newTestStreamable is a client of h behind the auth layer, whose waits
// return at once.
func newTestStreamable(t *testing.T, h http.HandlerFunc) (*Streamable, *testkit.Buffer) {
	g, u := newGuard(t, h)
	lb := &testkit.Buffer{}
	log := slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := NewStreamable(t.Context(), u, &http.Client{Transport: g}, log, Handlers{})
	s.wait = func(ctx context.Context, _ time.Duration, _ <-chan struct{}) bool { return ctx.Err() == nil }
	t.Cleanup(s.cancel)
	return s, lb
}

func rpc(id, method string) *front.Message {
	m := &front.Message{JSONRPC: "2.0", Method: method}
	if id != "" {
		m.ID = json.RawMessage(id)
	}
	return m
}

func sse(w http.ResponseWriter, events ...string) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
	}
	for _, e := range events {
		_, _ = io.WriteString(w, e+"\n\n")
	}
	w.(http.Flusher).Flush()
}

// The client's handling of each status and body the server may answer a
// request or a notification with.
func TestStreamableStatus(t *testing.T) {
	cases := []struct {
		name        string
		status      int
		ctype, body string
		session     bool
		result      string // the response's result, or error message
		err         error
		errText     string
	}{
		{"json", 200, "application/json", `{"jsonrpc":"2.0","id":1,"result":{"ok":true}}`, false, `{"ok":true}`, nil, ""},
		{"json with charset", 200, "application/json; charset=utf-8", `{"jsonrpc":"2.0","id":1,"result":{}}`, false, `{}`, nil, ""},
		{"not JSON", 200, "application/json", `<html>`, false, "", nil, "not a JSON-RPC response"},
		{"a notification, not a response", 200, "application/json", `{"jsonrpc":"2.0","method":"x"}`, false, "", nil, "not a JSON-RPC response"},
		{"other content type", 200, "text/html", `<html>`, false, "", nil, "content type"},
		{"JSON-RPC error with 400", 400, "application/json", `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"bad"}}`, false, "bad", nil, ""},
		{"500 text", 500, "text/plain", "secret-looking body", false, "", &StatusError{Status: 500}, "HTTP 500"},
		{"202 to a request", 202, "", "", false, "", &StatusError{Status: 202}, "HTTP 202"},
		{"404 with a session", 404, "text/plain", "gone", true, "", ErrSessionGone, ""},
		{"404 without a session", 404, "text/plain", "gone", false, "", &StatusError{Status: 404}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hits := 0
			s, _ := newTestStreamable(t, func(w http.ResponseWriter, r *http.Request) {
				hits++
				if c.ctype != "" {
					w.Header().Set("Content-Type", c.ctype)
				}
				w.WriteHeader(c.status)
				_, _ = io.WriteString(w, c.body)
			})
			if c.session {
				s.id = secret.New("sess-1")
			}
			resp, err := s.Call(t.Context(), rpc("1", "tools/list"))
			var se, want *StatusError
			switch {
			case errors.As(c.err, &want):
				if !errors.As(err, &se) || se.Status != want.Status {
					t.Fatalf("err %v, want status %d", err, want.Status)
				}
			case c.err != nil || c.errText != "":
				if err == nil || c.err != nil && !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.errText) {
					t.Fatalf("err %v, want %v %q", err, c.err, c.errText)
				}
			case err != nil:
				t.Fatal(err)
			case resp.Error != nil && resp.Error.Message != c.result, resp.Error == nil && string(resp.Result) != c.result:
				t.Fatalf("response %+v, want %s", resp, c.result)
			}
			if err != nil && strings.Contains(err.Error(), "secret-looking") {
				t.Fatalf("the body is in the error: %v", err)
			}
			if c.session { // the session is gone: nothing more is sent on it
				if _, err := s.Call(t.Context(), rpc("2", "tools/list")); !errors.Is(err, ErrSessionGone) || hits != 1 {
					t.Fatalf("after the 404: %v, %d requests", err, hits)
				}
			}
		})
	}
}

// Notifications and responses are accepted with 202; the session id comes
// from initialize, and goes with the protocol version on every request.
func TestStreamableSession(t *testing.T) {
	var mu sync.Mutex
	var seen []*http.Request
	s, _ := newTestStreamable(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Clone(context.Background()))
		mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusOK)
		case bytes.Contains(body, []byte(`"initialize"`)):
			w.Header().Set("Mcp-Session-Id", "sess-1")
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":"i","result":{}}`)
		case bytes.Contains(body, []byte(`"notifications/bad"`)):
			w.WriteHeader(http.StatusBadRequest)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	})
	testkit.NoErr(t, testkit.ErrOf(s.Call(t.Context(), rpc(`"i"`, "initialize"))))
	s.SetVersion("2025-11-25")
	testkit.NoErr(t, s.Send(t.Context(), rpc("", "notifications/initialized")))
	var se *StatusError
	if err := s.Send(t.Context(), rpc("", "notifications/bad")); !errors.As(err, &se) || se.Status != 400 {
		t.Fatalf("a refused notification: %v", err)
	}
	s.Close()
	mu.Lock()
	defer mu.Unlock()
	want := []struct{ method, session, version, accept string }{
		{"POST", "", "", "application/json, text/event-stream"},
		{"POST", "sess-1", "2025-11-25", "application/json, text/event-stream"},
		{"POST", "sess-1", "2025-11-25", "application/json, text/event-stream"},
		{"DELETE", "sess-1", "2025-11-25", ""},
	}
	if len(seen) != len(want) {
		t.Fatalf("%d requests, want %d", len(seen), len(want))
	}
	for i, w := range want {
		r := seen[i]
		if r.Method != w.method || r.Header.Get("Mcp-Session-Id") != w.session || r.Header.Get("MCP-Protocol-Version") != w.version ||
			r.Header.Get("Accept") != w.accept || (w.method == "POST") != (r.Header.Get("Content-Type") == "application/json") {
			t.Errorf("request %d: %s %v", i, r.Method, r.Header)
		}
	}
	if seen[1].Header.Get("Authorization") != "Bearer tok-1" || seen[3].Header.Get("Authorization") != "" {
		t.Errorf("the POST goes with the token, the DELETE with the cached one only (none here)")
	}
}

// On a POST's event stream, the server's notification and request come
// before the response: the notification is passed on in order, the request
// answered with a POST, and only then does the response come.
func TestStreamableEventStream(t *testing.T) {
	answered := make(chan string, 1)
	s, _ := newTestStreamable(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte(`"id":"srv-9"`)) {
			answered <- string(body)
			w.WriteHeader(http.StatusAccepted)
			return
		}
		sse(w, ": keep-alive", `data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}`,
			`event: message`+"\n"+`data: {"jsonrpc":"2.0","id":"srv-9","method":"sampling/createMessage","params":{"x":1}}`)
		select {
		case <-answered:
		case <-time.After(10 * time.Second):
			t.Error("the server request was never answered")
		}
		sse(w, `data: {"jsonrpc":"2.0","id":7,`+"\n"+`data: "result":{"done":true}}`)
	})
	var notes []string
	s.h.Note = func(m *front.Message) { notes = append(notes, m.Method) }
	s.h.Ask = func(ctx context.Context, m *front.Message) (*front.Message, error) {
		if _, ok := ctx.Deadline(); ok {
			t.Error("a server request has a deadline: a person may take long to answer")
		}
		if m.Method != "sampling/createMessage" || string(m.Params) != `{"x":1}` {
			t.Errorf("server request %+v", m)
		}
		if len(notes) != 1 {
			t.Errorf("the request came before the notification")
		}
		return front.Result(m.ID, json.RawMessage(`{"model":"m"}`)), nil
	}
	resp, err := s.Call(t.Context(), rpc("7", "tools/call"))
	if err != nil || string(resp.Result) != `{"done":true}` || string(resp.ID) != "7" {
		t.Fatalf("response %+v %v", resp, err)
	}
	if len(notes) != 1 || notes[0] != "notifications/progress" {
		t.Fatalf("notifications %v", notes)
	}
}

// A POST's stream that breaks off, or ends, before the response is resumed
// with a GET carrying the last event id, and again from the new last id:
// every notification arrives once, and the response at the end.
func TestStreamableResume(t *testing.T) {
	for _, broken := range []bool{false, true} {
		t.Run(map[bool]string{false: "ends", true: "breaks"}[broken], func(t *testing.T) {
			var mu sync.Mutex
			var lastIDs []string
			s, _ := newTestStreamable(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost {
					sse(w, `id: e1`+"\n"+`data: {"jsonrpc":"2.0","method":"n/1"}`)
					_, _ = io.WriteString(w, "id: e1b\ndata: {\"jsonrpc\":") // an unfinished event
					w.(http.Flusher).Flush()
					if broken {
						panic(http.ErrAbortHandler)
					}
					return
				}
				mu.Lock()
				lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID")+"/"+r.Header.Get("Mcp-Session-Id"))
				n := len(lastIDs)
				mu.Unlock()
				switch n {
				case 1:
					w.WriteHeader(http.StatusServiceUnavailable) // tried again
				case 2:
					sse(w, "retry: 5\nid: e2\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"n/2\"}")
				default:
					sse(w, "id: e3\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"n/3\"}", `id: e4`+"\n"+`data: {"jsonrpc":"2.0","id":1,"result":{}}`)
				}
			})
			s.id = secret.New("sess-1")
			var notes []string
			s.h.Note = func(m *front.Message) { notes = append(notes, m.Method) }
			resp, err := s.Call(t.Context(), rpc("1", "tools/call"))
			if err != nil || string(resp.Result) != "{}" {
				t.Fatalf("response %+v %v", resp, err)
			}
			if strings.Join(notes, " ") != "n/1 n/2 n/3" {
				t.Fatalf("notifications %v", notes)
			}
			if strings.Join(lastIDs, " ") != "e1/sess-1 e1/sess-1 e2/sess-1" {
				t.Fatalf("resumed with %v", lastIDs)
			}
		})
	}
}

// A stream that ends before the response with no event id cannot be
// resumed; one whose resumption keeps failing gives up.
func TestStreamableResumeFails(t *testing.T) {
	cases := []struct {
		name, first string
		get         int
		want        string
	}{
		{"no event id", `data: {"jsonrpc":"2.0","method":"n/1"}`, 0, "ended before the response"},
		{"resumption refused", "id: e1\ndata: {}", http.StatusBadRequest, "could not resume"},
		{"resumption keeps failing", "id: e1\ndata: {}", http.StatusBadGateway, "could not be resumed"},
		{"no stream offered", "id: e1\ndata: {}", http.StatusMethodNotAllowed, "could not resume"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gets := 0
			s, _ := newTestStreamable(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet {
					gets++
					w.WriteHeader(c.get)
					return
				}
				sse(w, c.first)
			})
			_, err := s.Call(t.Context(), rpc("1", "tools/call"))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
			if c.get == http.StatusBadGateway && gets != maxResumes {
				t.Fatalf("%d attempts, want %d", gets, maxResumes)
			}
		})
	}
}

// The server cancels a request of its own: the wait ends, no answer is
// sent, and the cancellation is not passed on as it is.
func TestStreamableServerCancels(t *testing.T) {
	posts := 0
	s, _ := newTestStreamable(t, func(w http.ResponseWriter, _ *http.Request) { posts++ })
	noted := false
	s.h.Note = func(*front.Message) { noted = true }
	stopped := make(chan struct{})
	s.h.Ask = func(ctx context.Context, _ *front.Message) (*front.Message, error) {
		<-ctx.Done()
		close(stopped)
		return nil, ctx.Err()
	}
	s.dispatch(t.Context(), []byte(`{"jsonrpc":"2.0","id":4,"method":"elicitation/create"}`))
	s.dispatch(t.Context(), []byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":4}}`))
	<-stopped
	s.cancel()
	if noted {
		t.Fatal("the server's cancellation was passed on")
	}
	if posts != 0 {
		t.Fatalf("%d answers sent to a cancelled request", posts)
	}
}

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
	testkit.NoErr(t, s2.Send(t.Context(), rpc("", "notifications/x")))
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
	testkit.Contains(t, "log", log.String(), "offers no event stream", "open again")
}

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

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	testkit.NoErr(t, err)
	return u
}

func names(cs []*http.Cookie) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name+"="+c.Value)
	}
	return strings.Join(out, ";")
}

func TestCookieJar(t *testing.T) {
	mcpURL := mustURL(t, "https://mcp.example.com/mcp")
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	j := NewCookieJar(mcpURL)
	j.now = func() time.Time { return now }
	j.SetCookies(mustURL(t, "https://mcp.example.com:443/mcp"), []*http.Cookie{
		{Name: "AWSALB", Value: "node1", Domain: "example.com"},
		{Name: "short", Value: "x", MaxAge: 60},
		{Name: "gone", Value: "x", MaxAge: -1},
		{Name: "past", Value: "x", Expires: now.Add(-time.Hour)},
		{Name: "secure", Value: "s", Secure: true},
		{Name: "big", Value: strings.Repeat("v", maxCookieSize)},
	})
	// Another origin can neither set nor read.
	j.SetCookies(mustURL(t, "https://other.example.com/mcp"), []*http.Cookie{{Name: "evil", Value: "1"}})
	j.SetCookies(mustURL(t, "http://mcp.example.com/mcp"), []*http.Cookie{{Name: "plain", Value: "1"}})
	if got := names(j.Cookies(mustURL(t, "https://mcp.example.com/mcp?x=1"))); got != "AWSALB=node1;short=x;secure=s" {
		t.Fatalf("cookies for the MCP URL: %s", got)
	}
	for _, other := range []string{"https://other.example.com/mcp", "https://example.com/mcp", "https://mcp.example.com:8443/mcp", "http://mcp.example.com/mcp"} {
		if got := j.Cookies(mustURL(t, other)); len(got) != 0 {
			t.Fatalf("cookies for %s: %s", other, names(got))
		}
	}
	// Expiry, replacement and deletion.
	now = now.Add(2 * time.Minute)
	j.SetCookies(mcpURL, []*http.Cookie{{Name: "AWSALB", Value: "node2"}, {Name: "secure", MaxAge: -1}})
	if got := names(j.Cookies(mcpURL)); got != "AWSALB=node2" {
		t.Fatalf("after expiry and replacement: %s", got)
	}
	// Bounded: the oldest go first.
	for i := 0; i < 3*maxCookies; i++ {
		j.SetCookies(mcpURL, []*http.Cookie{{Name: fmt.Sprintf("c%d", i), Value: "v"}})
	}
	got := j.Cookies(mcpURL)
	if len(got) != maxCookies || got[len(got)-1].Name != fmt.Sprintf("c%d", 3*maxCookies-1) {
		t.Fatalf("%d cookies kept, last %s", len(got), got[len(got)-1].Name)
	}
}

// readAll reads every event of stream, and the error that ended it.
func readAll(stream string, max int) (*sseReader, []event, error) {
	r := newSSEReader(strings.NewReader(stream), max)
	var evs []event
	for {
		ev, err := r.next()
		if err != nil {
			return r, evs, err
		}
		evs = append(evs, ev)
	}
}

func TestSSEReader(t *testing.T) {
	cases := []struct {
		name, stream string
		want         []string // "name|data|id" per event
		err          error
		lastID       string
		retry        time.Duration
		noRetry      bool
	}{
		{"one event", "data: {}\n\n", []string{"message|{}|"}, io.EOF, "", 0, true},
		{"multi-line data", "data: a\ndata: b\ndata\n\n", []string{"message|a\nb\n|"}, io.EOF, "", 0, true},
		{"CRLF and CR", "event: x\r\ndata: 1\r\rdata: 2\r\n\r\n", []string{"x|1|", "message|2|"}, io.EOF, "", 0, true},
		{"comments and unknown fields", ": hi\nfoo: bar\ndata:no space\n:\n\n", []string{"message|no space|"}, io.EOF, "", 0, true},
		{"id and retry", "id: 7\nretry: 1500\ndata: a\n\ndata: b\n\n", []string{"message|a|7", "message|b|7"}, io.EOF, "7", 1500 * time.Millisecond, false},
		{"priming event with no data", "id: p1\ndata:\n\nid: p2\n\n", []string{"message||p1"}, io.EOF, "p2", 0, true},
		{"bad retry and NUL id ignored", "retry: 1x\nretry: -5\nid: a\x00b\ndata: a\n\n", []string{"message|a|"}, io.EOF, "", 0, true},
		{"BOM", "\xEF\xBB\xBFdata: a\n\n", []string{"message|a|"}, io.EOF, "", 0, true},
		{"no final blank line", "data: a\n", []string{"message|a|"}, io.EOF, "", 0, true},
		{"truncated line", "data: a\n\ndata: {\"jso", []string{"message|a|"}, io.ErrUnexpectedEOF, "", 0, true},
		{"id of an unfinished event is not kept", "id: 1\ndata: a\n\nid: 2\ndata: b", []string{"message|a|1"}, io.ErrUnexpectedEOF, "1", 0, true},
		{"line over the cap", "data: " + strings.Repeat("x", 100) + "\n\n", nil, front.ErrMessageTooLarge, "", 0, true},
		{"data over the cap", strings.Repeat("data: "+strings.Repeat("x", 30)+"\n", 4) + "\n", nil, front.ErrMessageTooLarge, "", 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, evs, err := readAll(c.stream, 64)
			if !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			var got []string
			for _, ev := range evs {
				got = append(got, ev.name+"|"+string(ev.data)+"|"+ev.id)
			}
			if strings.Join(got, ";") != strings.Join(c.want, ";") {
				t.Fatalf("events %q, want %q", got, c.want)
			}
			if r.lastID != c.lastID || r.retry != c.retry || r.hasRetry == c.noRetry {
				t.Fatalf("lastID %q retry %v (%v), want %q %v", r.lastID, r.retry, r.hasRetry, c.lastID, c.retry)
			}
		})
	}
}

// A stream that breaks off returns the read error; one read a byte at a
// time parses as a whole (a CR at the end of a read waits for the LF).
func TestSSEReaderReads(t *testing.T) {
	r := newSSEReader(io.MultiReader(strings.NewReader("data: a\n\n"), iotest.ErrReader(io.ErrClosedPipe)), 64)
	if ev, err := r.next(); err != nil || string(ev.data) != "a" {
		t.Fatalf("first event: %q %v", ev.data, err)
	}
	if _, err := r.next(); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("broken stream: %v", err)
	}
	r = newSSEReader(iotest.OneByteReader(strings.NewReader("data: a\r\ndata: b\r\n\r\n")), 64)
	if ev, err := r.next(); err != nil || string(ev.data) != "a\nb" {
		t.Fatalf("byte by byte: %q %v", ev.data, err)
	}
	if _, err := r.next(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

// FuzzSSE checks that the parser never panics, never returns more data
// than the cap, and that an event's id is the reader's last id.
func FuzzSSE(f *testing.F) {
	for _, s := range []string{"data: {}\n\n", "id: 1\nretry: 10\ndata: a\r\ndata: b\r\r", ": c\nevent: x\ndata\n\n", "data: {\"jso"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := newSSEReader(strings.NewReader(string(b)), 256)
		for range len(b) + 1 {
			ev, err := r.next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, front.ErrMessageTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(ev.data) > 256 || ev.id != r.lastID || ev.name == "" {
				t.Fatalf("bad event %+v (last id %q)", ev, r.lastID)
			}
		}
		t.Fatal("more events than bytes")
	})
}
