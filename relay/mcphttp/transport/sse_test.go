package transport

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/keyrelay/keyrelay/relay/front"
)

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
