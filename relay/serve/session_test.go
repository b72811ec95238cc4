package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/relay/forward"
)

// modernMeta is the _meta of a 2026-07-28 request.
const modernMeta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`

const initLine = `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

// backend is a fake tool backend: "echo" answers with its arguments,
// "block" waits until every call of it has arrived (release) or its request
// is cancelled.
type backend struct {
	*httptest.Server
	arrived   chan struct{}
	release   chan struct{}
	cancelled chan struct{}
}

func newBackend(t *testing.T) *backend {
	b := &backend{arrived: make(chan struct{}, 100), release: make(chan struct{}), cancelled: make(chan struct{}, 100)}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/mcp/tools":
			_, _ = io.WriteString(w, `{"tools":[{"name":"echo","description":"echoes","inputSchema":{"type":"object"}},`+
				`{"name":"block","description":"blocks","inputSchema":{"type":"object"}}]}`)
		case "/mcp/tools/echo":
			var body struct{ Arguments json.RawMessage }
			_ = json.NewDecoder(r.Body).Decode(&body)
			_ = json.NewEncoder(w).Encode(map[string]any{"content": []any{map[string]any{"type": "text", "text": string(body.Arguments)}}})
		case "/mcp/tools/block":
			_, _ = io.Copy(io.Discard, r.Body) // so that the server notices a closed connection
			b.arrived <- struct{}{}
			select {
			case <-b.release:
				_, _ = io.WriteString(w, `{"content":[{"type":"text","text":"released"}]}`)
			case <-r.Context().Done():
				b.cancelled <- struct{}{}
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() {
		select {
		case <-b.release:
		default:
			close(b.release) // no handler outlives the test
		}
		b.Close()
	})
	return b
}

// conn runs Serve on pipes.
type conn struct {
	in     *io.PipeWriter
	lines  chan string
	done   chan error
	cancel context.CancelFunc
}

func start(t *testing.T, cfg Config) *conn {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{in: inW, lines: make(chan string, 1000), done: make(chan error, 1), cancel: cancel}
	go func() {
		err := New(cfg).Serve(ctx, inR, outW)
		outW.Close()
		c.done <- err
	}()
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		cancel()
		inW.Close()
		inR.Close()
	})
	return c
}

func (c *conn) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		t.Fatalf("write: %v", err)
	}
}

type reply struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	raw string
}

// next returns the next message that is not a notification, or fails.
func (c *conn) next(t *testing.T) reply {
	t.Helper()
	for {
		r, ok := c.any(t)
		if !ok {
			t.Fatal("stdout ended")
		}
		if r.Method == "" {
			return r
		}
	}
}

func (c *conn) any(t *testing.T) (reply, bool) {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			return reply{}, false
		}
		var r reply
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("not JSON on stdout: %q", l)
		}
		r.raw = l
		return r, true
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10 s")
	}
	return reply{}, false
}

func backendCfg(b *backend) Config {
	return Config{Backend: forward.New(b.URL, 10*time.Second), Version: "test"}
}

func TestRequestsInBothEras(t *testing.T) {
	cases := []struct {
		name, line string
		code       int      // 0: a result
		want       []string // substrings of the whole line
	}{
		{"initialize", initLine, 0, []string{`"id":0`, `"protocolVersion":"2025-06-18"`, `"capabilities":{"logging":{},"tools":{"listChanged":true}}`, `"serverInfo":{"name":"keyrelay","version":"test"}`, `"instructions":"keyrelay forwards`}},
		{"initialize old revision", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05"}}`, 0, []string{`"protocolVersion":"2024-11-05"`}},
		{"initialize unknown revision", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"1999-01-01"}}`, 0, []string{`"protocolVersion":"2025-11-25"`}},
		{"initialize without params", `{"jsonrpc":"2.0","id":1,"method":"initialize"}`, 0, []string{`"protocolVersion":"2025-03-26"`}},
		{"initialize modern", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{` + modernMeta + `}}`, -32601, []string{`was removed in protocol version 2026-07-28`}},
		{"discover modern", `{"jsonrpc":"2.0","id":"d","method":"server/discover","params":{` + modernMeta + `}}`, 0, []string{`"id":"d"`, `"supportedVersions":["2026-07-28","2025-11-25"`, `"resultType":"complete"`, `"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"keyrelay","version":"test"}}`, `"ttlMs":0`, `"cacheScope":"private"`, `"capabilities":{"logging":{},"tools":{"listChanged":true}}`}},
		{"discover legacy", `{"jsonrpc":"2.0","id":1,"method":"server/discover"}`, -32601, []string{`requires protocol version 2026-07-28 or later`}},
		{"discover without capabilities", `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`, -32602, []string{`clientCapabilities`}},
		{"unknown future revision", `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01","io.modelcontextprotocol/clientCapabilities":{}}}}`, -32022, []string{`"requested":"2099-01-01"`}},
		{"ping", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, 0, []string{`"result":{}`}},
		{"ping modern", `{"jsonrpc":"2.0","id":1,"method":"ping","params":{` + modernMeta + `}}`, -32601, nil},
		{"setLevel", `{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"debug"}}`, 0, []string{`"result":{}`}},
		{"setLevel bad level", `{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"loud"}}`, -32602, []string{`invalid logging level 'loud'`}},
		{"setLevel modern", `{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"debug",` + modernMeta + `}}`, -32601, nil},
		{"unknown method", `{"jsonrpc":"2.0","id":1,"method":"no/such"}`, -32601, []string{`Method no/such not found`}},
		{"unknown method modern", `{"jsonrpc":"2.0","id":1,"method":"no/such","params":{` + modernMeta + `}}`, -32601, nil},
		{"resources", `{"jsonrpc":"2.0","id":1,"method":"resources/list"}`, -32601, []string{`resources not supported`}},
		{"subscribe modern", `{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{` + modernMeta + `}}`, -32601, []string{`was removed`}},
		{"listen legacy", `{"jsonrpc":"2.0","id":1,"method":"subscriptions/listen"}`, -32601, nil},
		{"params not an object", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"x"}`, -32600, []string{`unparsable tools/call request`}},
		{"big id kept exactly", `{"jsonrpc":"2.0","id":123456789012345678901,"method":"ping"}`, 0, []string{`"id":123456789012345678901`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := start(t, Config{ConfigErr: errors.New("unset"), Version: "test"})
			if strings.Contains(tc.name, "setLevel") {
				c.send(t, initLine)
				c.next(t)
			}
			c.send(t, tc.line)
			r := c.next(t)
			switch {
			case tc.code == 0 && r.Error != nil:
				t.Fatalf("got an error: %s", r.raw)
			case tc.code != 0 && (r.Error == nil || r.Error.Code != tc.code):
				t.Fatalf("got %s, want error %d", r.raw, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.raw, w) {
					t.Errorf("%s lacks %s", r.raw, w)
				}
			}
		})
	}
}

func TestSetLevelNeedsInitialize(t *testing.T) {
	c := start(t, Config{ConfigErr: errors.New("unset")})
	c.send(t, `{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"debug"}}`)
	if r := c.next(t); r.Error == nil || r.Error.Code != -32603 {
		t.Fatalf("before initialize: %s", r.raw)
	}
}

func TestBadMessages(t *testing.T) {
	cases := []struct {
		name, line string
		code       int // 0: no answer
		id         string
	}{
		{"not JSON", `{"jsonrpc":"2.0","id":1,"method":`, -32700, ""},
		{"empty line", ``, -32700, ""},
		{"binary", "\x00\xff\xfe", -32700, ""},
		{"array", `[1,2,3]`, -32700, ""},
		{"method not a string", `{"jsonrpc":"2.0","id":4,"method":42}`, -32700, ""},
		{"wrong version", `{"jsonrpc":"1.0","id":2,"method":"ping"}`, -32600, "2"},
		{"no version", `{"id":3,"method":"ping"}`, -32600, "3"},
		{"notification with bad params", `{"jsonrpc":"2.0","method":"x","params":5}`, -32700, ""},
		{"null id is a notification", `{"jsonrpc":"2.0","id":null,"method":"ping"}`, 0, ""},
		{"a response", `{"jsonrpc":"2.0","id":9,"result":{}}`, 0, ""},
		{"initialized", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := start(t, Config{ConfigErr: errors.New("unset")})
			c.send(t, tc.line)
			c.send(t, `{"jsonrpc":"2.0","id":"after","method":"ping"}`)
			r := c.next(t)
			if tc.code == 0 {
				if string(r.ID) != `"after"` {
					t.Fatalf("answered %s", r.raw)
				}
				return
			}
			if tc.id == "" {
				tc.id = "null"
			}
			if r.Error == nil || r.Error.Code != tc.code || string(r.ID) != tc.id {
				t.Fatalf("got %s, want error %d with id %s", r.raw, tc.code, tc.id)
			}
			if r := c.next(t); string(r.ID) != `"after"` {
				t.Fatalf("the session did not go on: %s", r.raw)
			}
		})
	}
}

func TestToolsInBothEras(t *testing.T) {
	b := newBackend(t)
	for _, era := range []string{"legacy", "modern"} {
		t.Run(era, func(t *testing.T) {
			c := start(t, backendCfg(b))
			meta := ""
			if era == "modern" {
				meta = "," + modernMeta
			} else {
				c.send(t, initLine)
				c.next(t)
			}
			c.send(t, `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":""`+meta+`}}`)
			r := c.next(t)
			if !strings.Contains(r.raw, `"name":"block"`) || !strings.Contains(r.raw, `"name":"echo"`) || strings.Index(r.raw, `"block"`) > strings.Index(r.raw, `"echo"`) {
				t.Fatalf("tools/list: %s", r.raw)
			}
			if got := strings.Contains(r.raw, `"resultType":"complete"`) && strings.Contains(r.raw, `"ttlMs":0`); got != (era == "modern") {
				t.Errorf("2026-07-28 result fields in the %s era: %v: %s", era, got, r.raw)
			}
			c.send(t, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"n":12345678901234567890}`+meta+`}}`)
			r = c.next(t)
			if r.Error != nil || !strings.Contains(r.raw, `{\"n\":12345678901234567890}`) || strings.Contains(r.raw, `"isError":true`) {
				t.Fatalf("tools/call: %s", r.raw)
			}
			if got := strings.Contains(r.raw, `"resultType":"complete"`); got != (era == "modern") {
				t.Errorf("resultType in the %s era: %v", era, got)
			}
			c.send(t, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":[1]`+meta+`}}`)
			if r := c.next(t); !strings.Contains(r.raw, "arguments must be a JSON object") {
				t.Fatalf("array arguments: %s", r.raw)
			}
			c.send(t, `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"missing"`+meta+`}}`)
			if r := c.next(t); r.Error != nil || !strings.Contains(r.raw, `"isError":true`) {
				t.Fatalf("unknown tool: %s", r.raw)
			}
		})
	}
}

func TestConfigErrorShowsStatusTool(t *testing.T) {
	c := start(t, Config{ConfigErr: errors.New("RELAY_BACKEND_URL is not set")})
	c.send(t, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	if r := c.next(t); !strings.Contains(r.raw, `"name":"keyrelay_status"`) {
		t.Fatalf("tools/list: %s", r.raw)
	}
	c.send(t, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"keyrelay_status"}}`)
	if r := c.next(t); !strings.Contains(r.raw, `"isError":true`) || !strings.Contains(r.raw, "RELAY_BACKEND_URL is not set") {
		t.Fatalf("tools/call: %s", r.raw)
	}
}

func TestCancelledCallEnds(t *testing.T) {
	b := newBackend(t)
	c := start(t, backendCfg(b))
	c.send(t, `{"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"block"}}`)
	<-b.arrived
	c.send(t, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c"}}`)
	select {
	case <-b.cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the backend call was not cancelled")
	}
	if r := c.next(t); string(r.ID) != `"c"` || !strings.Contains(r.raw, `"isError":true`) {
		t.Fatalf("cancelled call: %s", r.raw)
	}
}

func TestConcurrentCalls(t *testing.T) {
	b := newBackend(t)
	c := start(t, backendCfg(b))
	c.send(t, `{"jsonrpc":"2.0","id":0,"method":"tools/list"}`) // no refresh race in the calls
	c.next(t)
	const n = 20
	for i := 1; i <= n; i++ {
		c.send(t, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"block"}}`, i))
	}
	for range n { // all n in flight at once, or this blocks
		select {
		case <-b.arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the calls do not run concurrently")
		}
	}
	c.send(t, `{"jsonrpc":"2.0","id":"p","method":"ping"}`) // not stuck behind the calls
	if r := c.next(t); string(r.ID) != `"p"` {
		t.Fatalf("ping: %s", r.raw)
	}
	close(b.release)
	seen := map[string]bool{}
	for range n {
		r := c.next(t)
		if !strings.Contains(r.raw, "released") {
			t.Fatalf("call: %s", r.raw)
		}
		seen[string(r.ID)] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct answers, want %d", len(seen), n)
	}
}

func TestEndOfInputCancelsCalls(t *testing.T) {
	b := newBackend(t)
	c := start(t, backendCfg(b))
	c.send(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"block"}}`)
	<-b.arrived
	c.in.Close()
	select {
	case err := <-c.done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return at the end of input")
	}
	select {
	case <-b.cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the call in flight was not cancelled")
	}
}

func TestContextEndStopsServe(t *testing.T) {
	c := start(t, Config{ConfigErr: errors.New("unset")})
	c.cancel()
	select {
	case err := <-c.done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return when its context ended")
	}
}

func TestLogMessagesFollowTheLevel(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // connections refused: tools/list logs a warning
	cfg := Config{Backend: forward.New(down.URL, 5*time.Second)}
	warned := func(c *conn, id string) bool {
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
	c := start(t, cfg)
	c.send(t, initLine)
	c.next(t)
	c.send(t, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	if warned(c, "1") {
		t.Error("a warning passed the default level (error)")
	}
	c.send(t, `{"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"warning"}}`)
	c.next(t)
	c.send(t, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`)
	if !warned(c, "3") {
		t.Error("no warning after logging/setLevel warning")
	}
	m := start(t, cfg)
	m.send(t, `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{`+modernMeta+`}}`)
	if warned(m, "1") {
		t.Error("a 2026-07-28 request without a log level got a log message")
	}
	m.send(t, `{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/logLevel":"info"}}}`)
	if !warned(m, "2") {
		t.Error("no warning for a 2026-07-28 request asking for info")
	}
}

// TestPlaceholdersAreBounded: a client calling made-up tool names while the
// backend is unusable gets isError results, but cannot grow the tool list
// past maxPlaceholders; an empty name is a plain error.
func TestPlaceholdersAreBounded(t *testing.T) {
	c := start(t, Config{ConfigErr: errors.New("unset")})
	c.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	var answered, refused int
	for i := range maxPlaceholders + 10 {
		c.send(t, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"made-up-%d"}}`, i+1, i))
		switch r := c.next(t); {
		case strings.Contains(r.raw, `"isError":true`):
			answered++
		case r.Error != nil:
			refused++
		default:
			t.Fatalf("call %d: %s", i, r.raw)
		}
	}
	// keyrelay_status is a placeholder too.
	if answered != maxPlaceholders-1 || refused != 11 {
		t.Fatalf("%d isError answers, %d refusals", answered, refused)
	}
	c.send(t, `{"jsonrpc":"2.0","id":"empty","method":"tools/call","params":{"name":""}}`)
	if r := c.next(t); r.Error == nil {
		t.Fatalf("empty tool name: %s", r.raw)
	}
	c.send(t, `{"jsonrpc":"2.0","id":"list","method":"tools/list"}`)
	r := c.next(t)
	var res struct{ Tools []struct{ Name string } }
	if err := json.Unmarshal(r.Result, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Tools) != maxPlaceholders {
		t.Fatalf("%d tools listed, want %d", len(res.Tools), maxPlaceholders)
	}
}
