package front

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"testing/iotest"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestMessageKinds(t *testing.T) {
	cases := []struct {
		in                  string
		req, notif, respond bool
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, true, false, false},
		{`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{}}`, false, true, false},
		{`{"jsonrpc":"2.0","id":"keyrelay-1","result":{}}`, false, false, true},
		{`{"jsonrpc":"2.0","id":null,"error":{"code":1,"message":"x"}}`, false, false, true},
		{`{"jsonrpc":"2.0","id":null,"method":"x"}`, false, true, false},
		{`{"jsonrpc":"2.0","id":3}`, false, false, false},
	}
	for _, c := range cases {
		var m Message
		testkit.NoErr(t, json.Unmarshal([]byte(c.in), &m))
		if m.IsRequest() != c.req || m.IsNotification() != c.notif || m.IsResponse() != c.respond {
			t.Errorf("%s: request %v notification %v response %v", c.in, m.IsRequest(), m.IsNotification(), m.IsResponse())
		}
	}
}

// The relay's asks get ids of its own, distinct from each other and from
// any client id; an answer reaches only its own waiter.
func TestAsks(t *testing.T) {
	var a asks
	id1, ch1, _ := a.open()
	id2, ch2, _ := a.open()
	if IDKey(id1) == IDKey(id2) {
		t.Fatal("two asks got one id")
	}
	a.answer(&Message{ID: json.RawMessage(`1`)}) // a client id: dropped
	a.answer(&Message{ID: id2, Result: json.RawMessage(`{"two":1}`)})
	if m := <-ch2; string(m.Result) != `{"two":1}` {
		t.Fatalf("answer 2: %s", m.Result)
	}
	select {
	case m := <-ch1:
		t.Fatalf("answer reached the wrong waiter: %v", m)
	default:
	}
	a.close(id1)
	a.answer(&Message{ID: id1}) // after close: dropped, no block
	if IDKey(json.RawMessage(`7`)) == IDKey(json.RawMessage(`"7"`)) {
		t.Fatal("ids 7 and \"7\" must differ")
	}
}

// What the 2026-07-28 era requires of a result is added where missing;
// what is there is kept.
func TestDecorate(t *testing.T) {
	info := json.RawMessage(`{"name":"s"}`)
	cases := []struct {
		method, in string
		info       json.RawMessage
		want       string
	}{
		{"tools/list", `{"tools":[]}`, nil, `{"cacheScope":"private","resultType":"complete","tools":[],"ttlMs":0}`},
		{"resources/read", `{"contents":[]}`, nil, `{"cacheScope":"private","contents":[],"resultType":"complete","ttlMs":0}`},
		{"resources/templates/list", `{"resourceTemplates":[]}`, nil, `{"cacheScope":"private","resourceTemplates":[],"resultType":"complete","ttlMs":0}`},
		{"prompts/list", `{"prompts":[],"ttlMs":5000,"cacheScope":"public","resultType":"complete"}`, nil, `{"prompts":[],"ttlMs":5000,"cacheScope":"public","resultType":"complete"}`},
		{"resources/read", `{"resultType":"input_required","requestState":"s"}`, nil, `{"resultType":"input_required","requestState":"s"}`},
		{"tools/call", `{"content":[]}`, nil, `{"content":[],"resultType":"complete"}`},
		{"tools/call", `{"content":[]}`, info, `{"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"s"}},"content":[],"resultType":"complete"}`},
		{"tools/call", `{"_meta":{"a":1},"resultType":"complete"}`, info, `{"_meta":{"a":1,"io.modelcontextprotocol/serverInfo":{"name":"s"}},"resultType":"complete"}`},
		{"tools/call", `{"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"o"}},"resultType":"complete"}`, info, `{"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"o"}},"resultType":"complete"}`},
		{"tools/call", `null`, info, `null`},
		{"tools/call", `[1]`, info, `[1]`},
	}
	for _, c := range cases {
		if got := Decorate(c.method, json.RawMessage(c.in), c.info); string(got) != c.want {
			t.Errorf("Decorate(%s, %s) = %s, want %s", c.method, c.in, got, c.want)
		}
	}
}

// The writer's encoding is json.Marshal's, one line per message, whatever
// the raw members hold.
func TestAppendMessage(t *testing.T) {
	for _, m := range []*Message{
		Result(json.RawMessage(`1`), json.RawMessage(`{"a":"<b>"}`)),
		Result(json.RawMessage(`"x"`), json.RawMessage("{\n  \"indented\": [1,\r\n 2]\n}")),
		Fail(nil, -32600, "Invalid \"Request\"\n"),
		Notification("notifications/message", map[string]any{"level": "info", "data": "a\u2028b"}),
		Request(json.RawMessage(`"keyrelay-1"`), "sampling/createMessage", json.RawMessage(`{}`)),
		{JSONRPC: "2.0", ID: json.RawMessage(`7`), Error: &Error{Code: 1, Message: "m", Data: json.RawMessage(`{"x":1}`)}},
	} {
		got, err := appendMessage(nil, m)
		testkit.NoErr(t, err)
		var want, have any
		std, _ := json.Marshal(m)
		if json.Unmarshal(std, &want) != nil || json.Unmarshal(got, &have) != nil || fmt.Sprint(want) != fmt.Sprint(have) {
			t.Errorf("appendMessage = %s, json.Marshal = %s", got, std)
		}
		if bytes.ContainsAny(got, "\r\n") {
			t.Errorf("%q spans lines", got)
		}
	}
	if _, err := appendMessage(nil, Result(json.RawMessage(`1`), json.RawMessage("{\n"))); err == nil {
		t.Error("a broken raw member with a line end was written")
	}
}

// WithParam takes params of null however spelt, and refuses others that
// are not an object.
func TestWithParam(t *testing.T) {
	for in, want := range map[string]string{``: `{"k":1}`, `null`: `{"k":1}`, ` null `: `{"k":1}`, `{"a":2}`: `{"a":2,"k":1}`} {
		got, err := WithParam(json.RawMessage(in), "k", 1)
		if err != nil || string(got) != want {
			t.Errorf("WithParam(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	if _, err := WithParam(json.RawMessage(`[1]`), "k", 1); err == nil {
		t.Error("WithParam of an array")
	}
}

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
