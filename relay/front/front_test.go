package front

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// What the front answers itself, in both eras, with an upstream that
// answers everything else.
func TestProtocol(t *testing.T) {
	cases := []struct {
		name, line string
		code       int // 0: a result
		want       []string
	}{
		{"initialize", initLine, 0, []string{`"protocolVersion":"2025-06-18"`, `"serverInfo":{"name":"fake","version":"1"}`, `"capabilities":{"tools":{}}`}},
		{"initialize unknown version", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"1999-01-01"}}`, 0, []string{`"protocolVersion":"2025-11-25"`}},
		{"initialize modern", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{` + modernMeta + `}}`, -32601, []string{`was removed in protocol version 2026-07-28`}},
		{"discover", `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{` + modernMeta + `}}`, 0,
			[]string{`"supportedVersions":["2026-07-28","2025-11-25"`, `"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"fake","version":"1"}}`, `"ttlMs":0`, `"cacheScope":"private"`, `"resultType":"complete"`}},
		{"discover legacy", `{"jsonrpc":"2.0","id":1,"method":"server/discover"}`, -32601, []string{`requires protocol version 2026-07-28 or later`}},
		{"discover without capabilities", `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`, -32602, []string{`clientCapabilities`}},
		{"unknown future revision", `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01","io.modelcontextprotocol/clientCapabilities":{}}}}`, -32022, []string{`"requested":"2099-01-01"`}},
		{"ping", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, 0, []string{`"result":{}`}},
		{"ping modern", `{"jsonrpc":"2.0","id":1,"method":"ping","params":{` + modernMeta + `}}`, -32601, nil},
		{"setLevel", `{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"debug"}}`, -32601, []string{`Method logging/setLevel not found`}}, // checked, then the upstream's
		{"setLevel bad level", `{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"loud"}}`, -32602, []string{`invalid logging level 'loud'`}},
		{"setLevel modern", `{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"debug",` + modernMeta + `}}`, -32601, []string{`was removed`}},
		{"unknown method", `{"jsonrpc":"2.0","id":1,"method":"no/such"}`, -32601, []string{`Method no/such not found`}},
		{"listen legacy", `{"jsonrpc":"2.0","id":1,"method":"subscriptions/listen"}`, -32601, []string{`requires protocol version`}},
		{"params not an object", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"x"}`, -32602, []string{`params must be an object`}},
		{"a notification's name with an id", `{"jsonrpc":"2.0","id":1,"method":"notifications/initialized"}`, -32601, []string{`Method notifications/initialized not found`}},
		{"big id kept exactly", `{"jsonrpc":"2.0","id":123456789012345678901,"method":"ping"}`, 0, []string{`"id":123456789012345678901`}},
		{"modern result decorated", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{` + modernMeta + `}}`, 0,
			[]string{`"resultType":"complete"`, `"ttlMs":0`, `"cacheScope":"private"`, `"io.modelcontextprotocol/serverInfo":{"name":"keyrelay","version":"test"}`}},
		{"legacy result as it is", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 0, []string{`"result":{"tools":[{"name":"echo","inputSchema":{"type":"object"}}]}`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := start(t, Config{Version: "test", Wire: wireTo(&fakeUp{})})
			if strings.Contains(tc.name, "setLevel") {
				c.call(t, initLine)
			}
			r := c.call(t, tc.line)
			switch {
			case tc.code == 0 && r.Error != nil:
				t.Fatalf("got an error: %s", r.Raw)
			case tc.code != 0 && (r.Error == nil || r.Error.Code != tc.code):
				t.Fatalf("got %s, want error %d", r.Raw, tc.code)
			}
			testkit.Contains(t, "the answer", r.Raw, tc.want...)
		})
	}
}

func TestSetLevelNeedsInitialize(t *testing.T) {
	c := start(t, Config{Wire: wireTo(&fakeUp{})})
	if r := c.call(t, `{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"debug"}}`); r.Error == nil || r.Error.Code != -32603 {
		t.Fatalf("before initialize: %s", r.Raw)
	}
}

// Bad input gets an answer the JSON-RPC 2.0 spec names, and the session
// goes on.
func TestBadMessages(t *testing.T) {
	cases := []struct {
		name, line string
		code       int // 0: no answer
		id         string
	}{
		{"not JSON", `{"jsonrpc":"2.0","id":1,"method":`, -32700, "null"},
		{"binary", "\x00\xff\xfe", -32700, "null"},
		{"a batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, -32600, "null"},
		{"a number", `42`, -32600, "null"},
		{"method not a string", `{"jsonrpc":"2.0","id":4,"method":42}`, -32600, "null"},
		{"wrong version", `{"jsonrpc":"1.0","id":2,"method":"ping"}`, -32600, "2"},
		{"no version", `{"id":3,"method":"ping"}`, -32600, "3"},
		{"no method", `{"jsonrpc":"2.0","id":5}`, -32600, "5"},
		{"empty line", ``, 0, ""},
		{"spaces", " \t\r", 0, ""},
		{"notification with bad params", `{"jsonrpc":"2.0","method":"x","params":5}`, 0, ""},
		{"null id is a notification", `{"jsonrpc":"2.0","id":null,"method":"ping"}`, 0, ""},
		{"a response to nothing", `{"jsonrpc":"2.0","id":9,"result":{}}`, 0, ""},
		{"an error with no id", `{"jsonrpc":"2.0","error":{"code":1,"message":"x"}}`, 0, ""},
		{"initialized", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := start(t, Config{Wire: wireTo(&fakeUp{})})
			c.send(t, tc.line)
			r := c.call(t, `{"jsonrpc":"2.0","id":"after","method":"ping"}`)
			if tc.code == 0 {
				if string(r.ID) != `"after"` {
					t.Fatalf("answered %s", r.Raw)
				}
				return
			}
			if r.Error == nil || r.Error.Code != tc.code || string(r.ID) != tc.id {
				t.Fatalf("got %s, want error %d with id %s", r.Raw, tc.code, tc.id)
			}
			if r := c.next(t); string(r.ID) != `"after"` {
				t.Fatalf("the session did not go on: %s", r.Raw)
			}
		})
	}
}

// A line over MaxMessage gets -32600 and the session goes on; so does a
// last line without a newline.
func TestLineEnds(t *testing.T) {
	c := start(t, Config{Wire: wireTo(&fakeUp{})})
	go func() {
		_, _ = io.WriteString(c.In, `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"`+strings.Repeat("a", MaxMessage)+`"}}`+"\n")
		_, _ = io.WriteString(c.In, `{"jsonrpc":"2.0","id":2,"method":"ping"}`)
		c.In.Close()
	}()
	r := c.next(t)
	if r.Error == nil || r.Error.Code != -32600 || string(r.ID) != "null" || !strings.Contains(r.Error.Message, "over 16 MiB") {
		t.Fatalf("over the limit: %s", r.Raw)
	}
	if r := c.next(t); string(r.ID) != "2" || r.Error != nil {
		t.Fatalf("last line without a newline: %s", r.Raw)
	}
}

// A request the client cancels ends at the upstream and is not answered;
// the upstream is told.
func TestCancelledCallNotAnswered(t *testing.T) {
	arrived, ended := make(chan struct{}), make(chan struct{})
	up := &fakeUp{handle: func(ctx context.Context, r *Call) (*Message, error) {
		close(arrived)
		<-ctx.Done()
		close(ended)
		return nil, ctx.Err()
	}}
	c := start(t, Config{Wire: wireTo(up)})
	c.call(t, initLine)
	c.send(t, `{"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"block"}}`)
	<-arrived
	c.send(t, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c"}}`)
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream's request was not cancelled")
	}
	if rest := c.rest(t); len(rest) != 0 {
		t.Fatalf("a cancelled request was answered: %s", rest[0].Raw)
	}
	if n := up.notifications(); len(n) != 1 || n[0] != "notifications/cancelled" {
		t.Fatalf("the upstream got %v", n)
	}
}

// A cancellation of a request not in flight (or of "c" as a number when it
// is a string) cancels nothing and goes nowhere.
func TestCancelOfNothing(t *testing.T) {
	release := make(chan struct{})
	up := &fakeUp{handle: func(ctx context.Context, r *Call) (*Message, error) {
		<-release
		return Result(r.ID, json.RawMessage(`{"done":true}`)), nil
	}}
	c := start(t, Config{Wire: wireTo(up)})
	c.send(t, `{"jsonrpc":"2.0","id":"7","method":"tools/list"}`)
	c.send(t, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}}`)
	c.send(t, `{"jsonrpc":"2.0","id":"p","method":"ping"}`)
	c.next(t) // the ping: both notifications were handled before it
	close(release)
	if r := c.next(t); string(r.ID) != `"7"` || !strings.Contains(r.Raw, "done") {
		t.Fatalf("request 7: %s", r.Raw)
	}
	if n := up.notifications(); len(n) != 0 {
		t.Fatalf("the upstream got %v", n)
	}
}

func TestConcurrentCalls(t *testing.T) {
	arrived, release := make(chan struct{}, 100), make(chan struct{})
	up := &fakeUp{handle: func(ctx context.Context, r *Call) (*Message, error) {
		arrived <- struct{}{}
		<-release
		return Result(r.ID, json.RawMessage(`{"released":true}`)), nil
	}}
	c := start(t, Config{Wire: wireTo(up)})
	const n = 20
	for i := 1; i <= n; i++ {
		c.send(t, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"block"}}`, i))
	}
	for range n { // all n in flight at once, or this blocks
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the calls do not run concurrently")
		}
	}
	c.send(t, `{"jsonrpc":"2.0","id":"p","method":"ping"}`) // not stuck behind the calls
	if r := c.next(t); string(r.ID) != `"p"` {
		t.Fatalf("ping: %s", r.Raw)
	}
	close(release)
	seen := map[string]bool{}
	for range n {
		r := c.next(t)
		testkit.Contains(t, "call", r.Raw, "released")
		seen[string(r.ID)] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct answers, want %d", len(seen), n)
	}
}

// The end of stdin cancels the requests in flight, closes the upstream,
// and Serve returns once they have ended.
func TestEndOfInputCancelsCalls(t *testing.T) {
	arrived, cancelled := make(chan struct{}), make(chan struct{})
	up := &fakeUp{handle: func(ctx context.Context, r *Call) (*Message, error) {
		close(arrived)
		<-ctx.Done()
		close(cancelled)
		return nil, ctx.Err()
	}}
	c := start(t, Config{Wire: wireTo(up)})
	c.send(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"block"}}`)
	<-arrived
	if rest := c.rest(t); len(rest) != 0 {
		t.Fatalf("answered after the end of input: %s", rest[0].Raw)
	}
	select {
	case <-cancelled:
	default:
		t.Fatal("Serve returned before the call in flight ended")
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if !up.closed {
		t.Fatal("the upstream was not closed")
	}
}

// A signal (the context) ends Serve while the client keeps stdin open:
// Claude Code stops a server with SIGINT, then SIGTERM, then SIGKILL, and
// does not close stdin first.
func TestContextEndStopsServe(t *testing.T) {
	c := start(t, Config{Wire: wireTo(&fakeUp{})})
	c.call(t, `{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	c.cancel()
	select {
	case err := <-c.done:
		testkit.NoErr(t, err, "Serve")
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return when its context ended, with stdin open")
	}
}

// Log messages of the relay's own pass the level the client asked for: by
// logging/setLevel (default error), or per 2026-07-28 request (default
// none).
func TestLogMessagesFollowTheLevel(t *testing.T) {
	up := &fakeUp{}
	up.handle = func(ctx context.Context, r *Call) (*Message, error) {
		up.client.Notify(ctx, "notifications/message", map[string]any{"level": "warning", "logger": "keyrelay", "data": "careful"})
		return Result(r.ID, json.RawMessage(`{"tools":[]}`)), nil
	}
	warned := func(c *conn, line, id string) bool { // sends line, reads to the answer to id
		c.send(t, line)
		for {
			r, _ := c.any(t)
			if r.Method == "notifications/message" {
				return true
			}
			if string(r.ID) == id {
				return false
			}
		}
	}
	c := start(t, Config{Wire: wireTo(up)})
	if warned(c, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, "1") {
		t.Error("a log message before initialize")
	}
	c.call(t, initLine)
	if warned(c, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, "2") {
		t.Error("a warning passed the default level (error)")
	}
	c.call(t, `{"jsonrpc":"2.0","id":3,"method":"logging/setLevel","params":{"level":"warning"}}`)
	if !warned(c, `{"jsonrpc":"2.0","id":4,"method":"tools/list"}`, "4") {
		t.Error("no warning after logging/setLevel warning")
	}
	if st := up.client.State(); st.LogLevel != "warning" || string(st.Info) != `{"name":"t","version":"1"}` || st.Modern {
		t.Errorf("client state %+v", st)
	}
	m := start(t, Config{Wire: wireTo(up)})
	if warned(m, `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{`+modernMeta+`}}`, "1") {
		t.Error("a 2026-07-28 request without a log level got a log message")
	}
	if !warned(m, `{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"x":1},"io.modelcontextprotocol/logLevel":"info"}}}`, "2") {
		t.Error("no warning for a 2026-07-28 request asking for info")
	}
	if st := up.client.State(); !st.Modern || string(st.Caps) != `{"x":1}` {
		t.Errorf("client state %+v", st)
	}
}

// The handshake is answered without wiring when Describe is set; the first
// request for the upstream wires, once, and a wiring error is answered to
// every request, with keyrelay_status listed.
func TestWireOnFirstNeed(t *testing.T) {
	wired := 0
	c := start(t, Config{Version: "test", Describe: func() Description { return Description{Capabilities: json.RawMessage(`{"tools":{}}`)} },
		Wire: func(context.Context, Client) (Upstream, error) {
			wired++
			return nil, errors.New("RELAY_BACKEND_URL is not set")
		}})
	c.call(t, initLine)
	c.call(t, `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{`+modernMeta+`}}`)
	c.call(t, `{"jsonrpc":"2.0","id":"p","method":"ping"}`)
	if wired != 0 {
		t.Fatalf("wired %d times before any request for the upstream", wired)
	}
	testkit.Contains(t, "tools/list", c.call(t, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`).Raw, `"name":"keyrelay_status"`)
	testkit.Contains(t, "tools/call", c.call(t, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"anything"}}`).Raw, `"isError":true`, "keyrelay is not configured: RELAY_BACKEND_URL is not set")
	if r := c.call(t, `{"jsonrpc":"2.0","id":4,"method":"resources/list"}`); r.Error == nil || r.Error.Code != -32603 || !strings.Contains(r.Error.Message, "RELAY_BACKEND_URL is not set") {
		t.Fatalf("resources/list: %s", r.Raw)
	}
	c.rest(t)
	if wired != 1 {
		t.Fatalf("wired %d times, want 1", wired)
	}
}

// Without Describe, the handshake asks the wired upstream; a bad
// configuration gets the front's own description.
func TestHandshakeFromUpstream(t *testing.T) {
	c := start(t, Config{Wire: func(context.Context, Client) (Upstream, error) { return nil, errors.New("bad") }})
	testkit.Contains(t, "initialize", c.call(t, initLine).Raw, `"capabilities":{"logging":{},"tools":{"listChanged":true}}`, `"name":"keyrelay"`)
	up := &fakeUp{}
	c = start(t, Config{Wire: wireTo(up)})
	testkit.Contains(t, "discover", c.call(t, `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{`+modernMeta+`}}`).Raw, `"io.modelcontextprotocol/serverInfo":{"name":"fake","version":"1"}`)
	desc := Description{Initialize: json.RawMessage(`{"protocolVersion":"2025-03-26","capabilities":{},"serverInfo":{"name":"its own"}}`)}
	c = start(t, Config{Wire: func(_ context.Context, cl Client) (Upstream, error) { return describer{&fakeUp{}, desc}, nil }})
	if r := c.call(t, initLine); string(r.Result) != string(desc.Initialize) {
		t.Fatalf("a 2025-era server's initialize result is not passed as it is: %s", r.Raw)
	}
}

type describer struct {
	*fakeUp
	d Description
}

func (d describer) Describe(context.Context) Description { return d.d }

// A failed request: a tool call gets an isError result with the error's
// text, anything else a JSON-RPC error; a panic is an internal error.
func TestFailures(t *testing.T) {
	up := &fakeUp{handle: func(ctx context.Context, r *Call) (*Message, error) {
		if r.Method == "panic" {
			panic("boom")
		}
		return nil, fmt.Errorf("wrapped: %w", texted("the backend is unreachable"))
	}}
	c := start(t, Config{Wire: wireTo(up)})
	testkit.Contains(t, "tools/call", c.call(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{}}}`).Raw, `"isError":true`, `"text":"the backend is unreachable"`)
	if r := c.call(t, `{"jsonrpc":"2.0","id":2,"method":"prompts/list"}`); r.Error == nil || r.Error.Code != -32603 || r.Error.Message != "the backend is unreachable" {
		t.Fatalf("prompts/list: %s", r.Raw)
	}
	if r := c.call(t, `{"jsonrpc":"2.0","id":3,"method":"panic"}`); r.Error == nil || r.Error.Code != -32603 || r.Error.Message != "internal error" {
		t.Fatalf("panic: %s", r.Raw)
	}
}

type texted string

func (t texted) Error() string    { return "internal detail" }
func (t texted) UserText() string { return string(t) }

// The relay's requests to the client have ids of its own; the answer
// reaches the asker only; a cancelled ask tells the client.
func TestAsk(t *testing.T) {
	up := &fakeUp{}
	got := make(chan *Message, 1)
	up.handle = func(ctx context.Context, r *Call) (*Message, error) {
		m, err := up.client.Ask(ctx, "sampling/createMessage", json.RawMessage(`{"x":1}`))
		if err != nil {
			return nil, err
		}
		got <- m
		return Result(r.ID, m.Result), nil
	}
	c := start(t, Config{Wire: wireTo(up)})
	c.call(t, initLine)
	ask := c.call(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`)
	if ask.Method != "sampling/createMessage" || string(ask.ID) != `"keyrelay-1"` || string(ask.Params) != `{"x":1}` {
		t.Fatalf("ask: %s", ask.Raw)
	}
	c.send(t, `{"jsonrpc":"2.0","id":1,"result":{"wrong":"id"}}`) // the client's own id: nobody's answer
	if r := c.call(t, `{"jsonrpc":"2.0","id":"keyrelay-1","result":{"model":"m"}}`); string(r.ID) != "1" || string(r.Result) != `{"model":"m"}` {
		t.Fatalf("answer: %s", r.Raw)
	}
	if ask := c.call(t, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x"}}`); string(ask.ID) != `"keyrelay-2"` {
		t.Fatalf("second ask: %s", ask.Raw)
	}
	c.send(t, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}`)
	r, _ := c.any(t)
	if r.Method != "notifications/cancelled" || !strings.Contains(string(r.Params), `"requestId":"keyrelay-2"`) {
		t.Fatalf("after the cancel: %s", r.Raw)
	}
}

// Server notifications reach the client only once it has initialized.
func TestSendAfterInitialize(t *testing.T) {
	up := &fakeUp{}
	c := start(t, Config{Wire: wireTo(up)})
	c.call(t, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	up.client.Send(Notification("notifications/tools/list_changed", nil))
	c.call(t, initLine)
	up.client.Send(Notification("notifications/tools/list_changed", nil))
	if r, _ := c.any(t); r.Method != "notifications/tools/list_changed" {
		t.Fatalf("after initialize: %s", r.Raw)
	}
	if rest := c.rest(t); len(rest) != 0 {
		t.Fatalf("more: %s", rest[0].Raw)
	}
}

// P2: the relay's requests to the client waiting for an answer are
// bounded; past MaxAsks, Ask refuses at once, and an answered one frees a
// place.
func TestP2_AsksBounded(t *testing.T) {
	up := &fakeUp{}
	c := start(t, Config{Wire: wireTo(up)})
	c.send(t, initLine)
	c.next(t)
	c.send(t, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`) // wires the upstream
	c.next(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range MaxAsks {
		go func() { _, _ = up.client.Ask(ctx, "elicitation/create", json.RawMessage(`{}`)) }()
	}
	var first testkit.Msg
	for i := range MaxAsks {
		m := c.next(t) // each ask reaches the client
		if i == 0 {
			first = m
		}
	}
	if _, err := up.client.Ask(ctx, "elicitation/create", json.RawMessage(`{}`)); !errors.Is(err, ErrTooManyAsks) {
		t.Fatalf("ask %d: %v, want ErrTooManyAsks", MaxAsks+1, err)
	}
	c.send(t, `{"jsonrpc":"2.0","id":`+string(first.ID)+`,"result":{"action":"decline"}}`)
	// The answer is read by another goroutine: until it is, a new ask is
	// still refused at once, so ask again until one reaches the client.
	testkit.Poll(t, 10*time.Second, "a place freed by the answer", func() bool {
		got := make(chan error, 1)
		go func() {
			_, err := up.client.Ask(ctx, "elicitation/create", json.RawMessage(`{}`))
			got <- err
		}()
		for range 100 {
			select {
			case err := <-got:
				if !errors.Is(err, ErrTooManyAsks) {
					t.Fatalf("the ask after an answer: %v", err)
				}
				return false
			default:
			}
			if m, ok := c.Read(t, 10*time.Millisecond); ok && m.Method == "elicitation/create" {
				return true
			}
		}
		return false
	})
}

// modernMeta is the _meta of a 2026-07-28 request.
const modernMeta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`

const initLine = `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

// fakeUp is an upstream whose answers the test decides: handle (default:
// tools/list lists "echo", tools/call echoes its params, anything else is
// not found). It records notifications and whether it was closed.
type fakeUp struct {
	client Client
	handle func(ctx context.Context, r *Call) (*Message, error)

	mu     sync.Mutex
	notes  []string
	closed bool
}

func (f *fakeUp) Describe(context.Context) Description {
	return Description{Capabilities: json.RawMessage(`{"tools":{}}`), ServerInfo: json.RawMessage(`{"name":"fake","version":"1"}`)}
}

func (f *fakeUp) Request(ctx context.Context, r *Call) (*Message, error) {
	if f.handle != nil {
		return f.handle(ctx, r)
	}
	switch r.Method {
	case "tools/list":
		return Result(r.ID, json.RawMessage(`{"tools":[{"name":"echo","inputSchema":{"type":"object"}}]}`)), nil
	case "tools/call":
		return Result(r.ID, Object(map[string]any{"content": []any{map[string]any{"type": "text", "text": string(r.Params)}}})), nil
	}
	return MethodNotFound(&Message{ID: r.ID, Method: r.Method}), nil
}

func (f *fakeUp) Notify(_ context.Context, m *Message) {
	f.mu.Lock()
	f.notes = append(f.notes, m.Method)
	f.mu.Unlock()
}

func (f *fakeUp) Close() { f.mu.Lock(); f.closed = true; f.mu.Unlock() }

func (f *fakeUp) notifications() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.notes...)
}

// wireTo is a Config.Wire that wires up.
func wireTo(up *fakeUp) func(context.Context, Client) (Upstream, error) {
	return func(_ context.Context, c Client) (Upstream, error) { up.client = c; return up, nil }
}

// conn runs Serve on pipes, read with the test kit's stdio peer.
type conn struct {
	*testkit.Stdio
	done   chan error
	cancel context.CancelFunc
}

func start(t *testing.T, cfg Config) *conn {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{Stdio: testkit.NewStdio(inW, outR, &testkit.Buffer{}), done: make(chan error, 1), cancel: cancel}
	go func() {
		err := New(cfg).Serve(ctx, inR, outW)
		outW.Close()
		c.done <- err
	}()
	t.Cleanup(func() {
		cancel()
		inW.Close()
		inR.Close()
	})
	return c
}

func (c *conn) send(t *testing.T, line string) { t.Helper(); c.Send(t, line) }

// next returns the next message that is not a notification, or fails.
func (c *conn) next(t *testing.T) testkit.Msg {
	t.Helper()
	m, ok := c.Next(t, 10*time.Second)
	if !ok {
		t.Fatal("no message within 10 s, or stdout ended")
	}
	return m
}

// call sends line and returns the next message that is not a
// notification.
func (c *conn) call(t *testing.T, line string) testkit.Msg {
	t.Helper()
	c.send(t, line)
	return c.next(t)
}

// any returns the next message, false at the end of stdout.
func (c *conn) any(t *testing.T) (testkit.Msg, bool) {
	t.Helper()
	return c.Read(t, 10*time.Second)
}

// rest closes stdin, waits for Serve to return, and returns every message
// written after what was read so far.
func (c *conn) rest(t *testing.T) []testkit.Msg {
	t.Helper()
	c.In.Close()
	select {
	case err := <-c.done:
		testkit.NoErr(t, err, "Serve")
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return at the end of input")
	}
	var out []testkit.Msg
	for {
		m, ok := c.any(t)
		if !ok {
			return out
		}
		out = append(out, m)
	}
}
