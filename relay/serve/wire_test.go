package serve

import (
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
)

// The handshake is answered without wiring; the first tools/list wires,
// once, and a bad configuration found then shows the status tool without a
// list_changed notification, as one known at start does.
func TestWireOnFirstNeed(t *testing.T) {
	var wired atomic.Int32
	c := start(t, Config{Version: "test", Wire: func(cfg *Config) {
		wired.Add(1)
		cfg.ConfigErr = errors.New("RELAY_BACKEND_URL is not set")
	}})
	c.send(t, initLine)
	c.next(t)
	c.send(t, `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{`+modernMeta+`}}`)
	c.next(t)
	if n := wired.Load(); n != 0 {
		t.Fatalf("wired %d times before any tool request", n)
	}
	c.send(t, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	r, _ := c.any(t)
	if r.Method != "" || !strings.Contains(r.raw, `"name":"keyrelay_status"`) {
		t.Fatalf("tools/list: %s", r.raw)
	}
	c.send(t, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"keyrelay_status"}}`)
	if r := c.next(t); !strings.Contains(r.raw, "RELAY_BACKEND_URL is not set") {
		t.Fatalf("tools/call: %s", r.raw)
	}
	if n := wired.Load(); n != 1 {
		t.Fatalf("wired %d times, want 1", n)
	}
}

func TestContentBlocks(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"text":"a<b","type":"text","extra":1}`, `{"type":"text","text":"a\u003cb"}`},
		{`{"type":"text","text":"x","annotations":{"priority":0.5,"audience":["user"]},"_meta":{}}`, `{"annotations":{"audience":["user"],"priority":0.5},"_meta":{},"type":"text","text":"x"}`},
		{`{"type":"image","data":"AA==","mimeType":"image/png"}`, `{"type":"image","data":"AA==","mimeType":"image/png"}`},
		{`{"type":"nope"}`, ""},
		{`{"type":5}`, ""},
		{`{"type":"text","text":5}`, ""},
		{`[1]`, ""},
	} {
		got, err := content(json.RawMessage(c.in))
		switch {
		case c.want == "" && err == nil:
			t.Errorf("content(%s) = %s, want an error", c.in, got)
		case c.want != "" && (err != nil || string(got) != c.want):
			t.Errorf("content(%s) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
}

// relay/serve speaks MCP without mcp-go: its mcp package's dependencies
// (a JSON Schema library compiling regular expressions in init,
// html/template) cost the relay's cold start more than the rest of its
// package initialisation.
func TestNoMCPGoDependency(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.Contains(pkg, "mark3labs/mcp-go") || strings.Contains(pkg, "jsonschema") || pkg == "html/template" {
			t.Errorf("relay/serve depends on %s", pkg)
		}
	}
}
