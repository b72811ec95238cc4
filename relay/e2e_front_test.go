package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/relay/front"
)

// TestBothModesAnswerAlike: one front answers for both modes, so the same
// input gets the same answer from the relay in front of the backend's tool
// API and in front of a remote MCP server (mcp-go's, for what the server
// answers: an unknown method, an unknown tool). Both relays are signed in,
// so requests reach their upstream.
func TestBothModesAnswerAlike(t *testing.T) {
	cases := []struct {
		name, line string
		code       int // the JSON-RPC error code both must answer
	}{
		{"wrong jsonrpc version", `{"jsonrpc":"1.0","id":1,"method":"ping"}`, -32600},
		{"no jsonrpc member", `{"id":2,"method":"ping"}`, -32600},
		{"missing method", `{"jsonrpc":"2.0","id":3}`, -32600},
		{"unknown method", `{"jsonrpc":"2.0","id":4,"method":"no/such"}`, -32601},
		{"batch", `[{"jsonrpc":"2.0","id":5,"method":"ping"}]`, -32600},
		{"a JSON array", `[1,2,3]`, -32600},
		{"invalid JSON", `{"jsonrpc":"2.0","id":6,`, -32700},
		{"method not a string", `{"jsonrpc":"2.0","id":7,"method":7}`, -32600},
		{"params not an object", `{"jsonrpc":"2.0","id":8,"method":"tools/list","params":[1]}`, -32602},
		{"unknown tool", `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"no_such_tool","arguments":{}}}`, -32602},
		{"notification with an id", `{"jsonrpc":"2.0","id":10,"method":"notifications/initialized"}`, -32601},
		{"bad log level", `{"jsonrpc":"2.0","id":11,"method":"logging/setLevel","params":{"level":"loud"}}`, -32602},
		{"2026-07-28 request without capabilities", `{"jsonrpc":"2.0","id":12,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`, -32602},
		{"line over the limit", `{"jsonrpc":"2.0","id":13,"method":"ping","params":{"x":"` + strings.Repeat("x", front.MaxMessage) + `"}}`, -32600},
	}
	_, backend := backendEnv(t)
	_, _, remote := mcpEnv(t, "")
	answers := map[string][]string{}
	for mode, e := range map[string]*relayEnv{"backend": backend, "mcp-url": remote} {
		e.mustCLI(t, "login")
		p := e.Start(t, []string{"serve"})
		p.Send(t, fmt.Sprintf(initializeLine, 0))
		if m, ok := p.Next(t, 30*time.Second); !ok || m.Error != nil {
			t.Fatalf("%s: initialize: %+v\n%s", mode, m, p.Stderr.Tail())
		}
		for _, c := range cases {
			p.Send(t, c.line)
			m, ok := p.Next(t, 60*time.Second)
			if !ok || m.Error == nil || m.Error.Code != c.code {
				t.Fatalf("%s, %s: %s, want error %d\n%s", mode, c.name, m.Raw, c.code, p.Stderr.Tail())
			}
			answers[c.name] = append(answers[c.name], canonical(t, m.Raw))
		}
		// A last line without a newline is a message too.
		if _, err := io.WriteString(p.In, `{"jsonrpc":"2.0","id":"last","method":"ping"}`); err != nil {
			t.Fatal(err)
		}
		p.In.Close()
		m, ok := p.Next(t, 30*time.Second)
		if !ok || string(m.ID) != `"last"` || m.Error != nil {
			t.Fatalf("%s: last line without a newline: %+v", mode, m)
		}
		answers["last line"] = append(answers["last line"], canonical(t, m.Raw))
	}
	for name, got := range answers {
		if len(got) != 2 || got[0] != got[1] {
			t.Errorf("%s: the modes answer differently:\n%s", name, strings.Join(got, "\n"))
		}
	}
}

// canonical is a message re-encoded with sorted keys.
func canonical(t *testing.T, raw string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		t.Fatalf("not JSON: %q", raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
