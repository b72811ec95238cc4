package front

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"testing/iotest"
)

// FuzzLineReader: whatever the input and however reads split it, the
// reader returns exactly the input's lines, each within max (the newline
// not counted), reports each longer one as ErrMessageTooLarge, and then
// io.EOF. A small buffer and limit make every path reachable.
func FuzzLineReader(f *testing.F) {
	for _, s := range []string{"", "a\n", "a\nb", "\n\n", "0123456789abcdef0123\nx\n", "ab\r\ncd\r\n", "abcdefghijklmnopqrstuvwxyz0123456789"} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, in []byte, oneByte bool) {
		const max = 20
		var r io.Reader = bytes.NewReader(in)
		if oneByte {
			r = iotest.OneByteReader(r)
		}
		lr := newLineReaderSize(r, max, 16)
		want := bytes.SplitAfter(in, []byte("\n"))
		if len(want[len(want)-1]) == 0 {
			want = want[:len(want)-1]
		}
		for i, w := range want {
			got, err := lr.next()
			if content(w) > max {
				if !errors.Is(err, ErrMessageTooLarge) {
					t.Fatalf("line %d (%d bytes): %q, %v; want ErrMessageTooLarge", i, len(w), got, err)
				}
				continue
			}
			if err != nil || !bytes.Equal(got, w) {
				t.Fatalf("line %d: %q, %v; want %q", i, got, err, w)
			}
		}
		if got, err := lr.next(); err != io.EOF {
			t.Fatalf("after the last line: %q, %v; want EOF", got, err)
		}
	})
}

// FuzzReceive: any line gets at most one answer per request, and every
// line written is one JSON-RPC 2.0 message; nothing panics.
func FuzzReceive(f *testing.F) {
	for _, s := range []string{initLine, `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{` + modernMeta + `}}`,
		`[1]`, `{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}`, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`,
		`{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"x"}}`, `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-13-40","io.modelcontextprotocol/clientCapabilities":{}}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var out bytes.Buffer
		s := &session{cfg: Config{Describe: func() Description { return Description{} }}, log: slog.New(slog.DiscardHandler), ctx: t.Context(),
			out: &writer{w: &out, log: slog.New(slog.DiscardHandler)}, level: "error", inflight: map[string]*inflight{}, wired: make(chan struct{})}
		s.receive(line)
		s.stop()
		dec := json.NewDecoder(&out)
		for n := 0; ; n++ {
			var m Message
			err := dec.Decode(&m)
			if err == io.EOF {
				return
			}
			if err != nil || m.JSONRPC != "2.0" || n > 0 {
				t.Fatalf("output %q: message %d: %v", out.String(), n, err)
			}
		}
	})
}
