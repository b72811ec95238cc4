package testkit

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

// Msg is one JSON-RPC message read from a peer's stdout.
type Msg struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Raw string `json:"-"` // the line as read
}

// IsNote reports whether m is a notification.
func (m Msg) IsNote() bool { return m.Method != "" && len(m.ID) == 0 }

// Stdio is a raw JSON-RPC peer on newline-delimited stdio (the MCP stdio
// transport), for tests that check the exact messages rather than what a
// client library makes of them: it writes lines and reads messages, with
// deadlines. It is meant for the test's goroutine.
type Stdio struct {
	In     io.WriteCloser // the peer's stdin
	Stderr *Buffer        // the peer's stderr, for failure messages
	lines  chan string    // stdout lines; closed at EOF
}

// NewStdio reads out, line by line, until EOF.
func NewStdio(in io.WriteCloser, out io.Reader, stderr *Buffer) *Stdio {
	s := &Stdio{In: in, Stderr: stderr, lines: make(chan string, 4096)}
	go func() {
		defer close(s.lines)
		r := bufio.NewReaderSize(out, 1<<16)
		for {
			l, err := r.ReadString('\n')
			if l = strings.TrimSpace(l); l != "" {
				s.lines <- l
			}
			if err != nil {
				return
			}
		}
	}()
	return s
}

// Send writes line and a newline to the peer's stdin, and fails the test
// if that does not finish within 30 s (a peer that stopped reading).
func (s *Stdio) Send(t testing.TB, line string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { _, err := io.WriteString(s.In, line+"\n"); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("write to stdin: %v\n%s", err, s.Stderr.Tail())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the peer stopped reading its stdin\n%s", s.Stderr.Tail())
	}
}

// SendJSON sends v, encoded, as one line.
func (s *Stdio) SendJSON(t testing.TB, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	s.Send(t, string(b))
}

// Read returns the next message, notifications included, within d; false
// at EOF or the deadline. A line that is not JSON fails the test: stdout
// is protocol only.
func (s *Stdio) Read(t testing.TB, d time.Duration) (Msg, bool) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case l, ok := <-s.lines:
		if !ok {
			return Msg{}, false
		}
		var m Msg
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("a non-JSON line on stdout: %.200q", l)
		}
		m.Raw = l
		return m, true
	case <-timer.C:
		return Msg{}, false
	}
}

// Next returns the next message that is not a notification, within d.
func (s *Stdio) Next(t testing.TB, d time.Duration) (Msg, bool) {
	t.Helper()
	end := time.Now().Add(d)
	for {
		m, ok := s.Read(t, time.Until(end))
		if !ok || !m.IsNote() {
			return m, ok
		}
	}
}

// Responses reads messages until every id in ids (as JSON: "1", `"a"`)
// has been answered, within d, and returns them by id; it fails the test
// on EOF or at the deadline. Other messages are dropped.
func (s *Stdio) Responses(t testing.TB, d time.Duration, ids ...string) map[string]Msg {
	t.Helper()
	got := map[string]Msg{}
	end := time.Now().Add(d)
	for _, id := range ids {
		for _, ok := got[id]; !ok; _, ok = got[id] {
			m, more := s.Next(t, time.Until(end))
			if !more {
				t.Fatalf("no response for id %s within %v\nstderr:\n%s", id, d, s.Stderr.Tail())
			}
			got[string(m.ID)] = m
		}
	}
	return got
}

// Response is Responses for one id.
func (s *Stdio) Response(t testing.TB, d time.Duration, id string) Msg {
	t.Helper()
	return s.Responses(t, d, id)[id]
}

// Rest returns the rest of stdout, up to EOF, one line per line.
func (s *Stdio) Rest() string {
	var b strings.Builder
	for l := range s.lines {
		b.WriteString(l + "\n")
	}
	return b.String()
}
