package proxy

import (
	"encoding/json"
	"testing"
)

func TestLegacyParams(t *testing.T) {
	cases := []struct{ in, want, level string }{
		{`{"name":"x"}`, `{"name":"x"}`, ""},
		{`{"name":"x","_meta":{"progressToken":1,"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/logLevel":"debug"}}`,
			`{"_meta":{"progressToken":1},"name":"x"}`, "debug"},
		{`{"_meta":{"io.modelcontextprotocol/clientCapabilities":{}}}`, `{}`, ""},
		{`[1,2]`, `[1,2]`, ""},
		{``, ``, ""},
	}
	for _, c := range cases {
		got, level := legacyParams(json.RawMessage(c.in))
		if string(got) != c.want || level != c.level {
			t.Errorf("legacyParams(%s) = %s, %q; want %s, %q", c.in, got, level, c.want, c.level)
		}
	}
}

func TestWithResultType(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"tools":[]}`, `{"resultType":"complete","tools":[]}`},
		{`{"resultType":"input_required"}`, `{"resultType":"input_required"}`},
		{`null`, `null`},
	}
	for _, c := range cases {
		if got := withResultType(json.RawMessage(c.in)); string(got) != c.want {
			t.Errorf("withResultType(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

// A 2025-era server's list and read results get the 2026-07-28 caching
// hints, fail-closed (private, always revalidate); a server's own are kept.
func TestModernResultCacheHints(t *testing.T) {
	cases := []struct{ method, in, want string }{
		{"tools/list", `{"tools":[]}`, `{"cacheScope":"private","resultType":"complete","tools":[],"ttlMs":0}`},
		{"resources/read", `{"contents":[]}`, `{"cacheScope":"private","contents":[],"resultType":"complete","ttlMs":0}`},
		{"resources/templates/list", `{"resourceTemplates":[]}`, `{"cacheScope":"private","resourceTemplates":[],"resultType":"complete","ttlMs":0}`},
		{"prompts/list", `{"prompts":[],"ttlMs":5000,"cacheScope":"public","resultType":"complete"}`, `{"prompts":[],"ttlMs":5000,"cacheScope":"public","resultType":"complete"}`},
		{"resources/read", `{"resultType":"input_required","requestState":"s"}`, `{"resultType":"input_required","requestState":"s"}`},
		{"tools/call", `{"content":[]}`, `{"content":[],"resultType":"complete"}`},
	}
	for _, c := range cases {
		if got := modernResult(c.method, json.RawMessage(c.in)); string(got) != c.want {
			t.Errorf("modernResult(%s, %s) = %s, want %s", c.method, c.in, got, c.want)
		}
	}
}

func TestMessageKinds(t *testing.T) {
	cases := []struct {
		in                  string
		req, notif, respond bool
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, true, false, false},
		{`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{}}`, false, true, false},
		{`{"jsonrpc":"2.0","id":"keyrelay-1","result":{}}`, false, false, true},
		{`{"jsonrpc":"2.0","id":null,"method":"x"}`, false, true, false},
	}
	for _, c := range cases {
		var m message
		if err := json.Unmarshal([]byte(c.in), &m); err != nil {
			t.Fatal(err)
		}
		if m.isRequest() != c.req || m.isNotification() != c.notif || m.isResponse() != c.respond {
			t.Errorf("%s: request %v notification %v response %v", c.in, m.isRequest(), m.isNotification(), m.isResponse())
		}
	}
}

// Server requests get the proxy's own ids, distinct from each other and
// from any client id; an answer reaches only its own waiter.
func TestPendingAsks(t *testing.T) {
	var a pendingAsks
	id1, ch1 := a.open()
	id2, ch2 := a.open()
	if idKey(id1) == idKey(id2) {
		t.Fatal("two server requests got one id")
	}
	a.answer(&message{ID: json.RawMessage(`1`)}) // a client id: dropped
	a.answer(&message{ID: id2, Result: json.RawMessage(`{"two":1}`)})
	if m := <-ch2; string(m.Result) != `{"two":1}` {
		t.Fatalf("answer 2: %s", m.Result)
	}
	select {
	case m := <-ch1:
		t.Fatalf("answer reached the wrong waiter: %v", m)
	default:
	}
	a.close(id1)
	a.answer(&message{ID: id1}) // after close: dropped, no block
}

func TestPendingCallsCancel(t *testing.T) {
	var c pendingCalls
	ctx, done := c.start(t.Context(), json.RawMessage(`7`))
	if !c.isPending(json.RawMessage(`7`)) || c.isPending(json.RawMessage(`"7"`)) {
		t.Fatal("ids 7 and \"7\" must differ")
	}
	c.stop(json.RawMessage(`7`))
	if ctx.Err() == nil || !done() {
		t.Fatal("stop did not cancel, or done did not report it")
	}
	if c.isPending(json.RawMessage(`7`)) {
		t.Fatal("still pending after done")
	}
}
