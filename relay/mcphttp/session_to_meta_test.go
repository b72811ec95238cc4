package mcphttp

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/mcp"
)

// A 2025-era client's request gets the 2026-07-28 _meta; a 2026-07-28
// client's passes unchanged.
func TestModernParams(t *testing.T) {
	rm := requestMeta{caps: json.RawMessage(`{"sampling":{}}`), info: json.RawMessage(`{"name":"c","version":"1"}`), level: "debug"}
	out, err := modernParams(json.RawMessage(`{"name":"ask","_meta":{"progressToken":"p"}}`), rm)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Name string                     `json:"name"`
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	_ = json.Unmarshal(out, &got)
	for k, v := range map[string]string{mcp.MetaKeyProtocolVersion: `"2026-07-28"`, mcp.MetaKeyClientCapabilities: `{"sampling":{}}`,
		mcp.MetaKeyClientInfo: `{"name":"c","version":"1"}`, mcp.MetaKeyLogLevel: `"debug"`, "progressToken": `"p"`} {
		if string(got.Meta[k]) != v {
			t.Fatalf("_meta[%s] = %s, want %s (%s)", k, got.Meta[k], v, out)
		}
	}
	if got.Name != "ask" || !isModern(out) {
		t.Fatalf("params: %s", out)
	}
	if out, _ := modernParams(nil, requestMeta{}); !strings.Contains(string(out), `"io.modelcontextprotocol/clientCapabilities":{}`) {
		t.Fatalf("no params: %s", out)
	}
	modern := json.RawMessage(`{"name":"x", "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}`)
	if out, err := modernParams(modern, requestMeta{}); err != nil || string(out) != string(modern) {
		t.Fatalf("a 2026-07-28 request changed: %s %v", out, err)
	}
	if _, err := modernParams(json.RawMessage(`[1]`), rm); err == nil {
		t.Fatal("params that are not an object were accepted")
	}
}

// isModern reports whether params name the 2026-07-28 revision in _meta.
func isModern(params json.RawMessage) bool {
	return string(metaOf(params)[mcp.MetaKeyProtocolVersion]) == `"`+mcp.ProtocolVersion20260728+`"`
}

// metaOf returns the members of params' "_meta", matched by exact key as
// legacyParams and modernParams match it (a struct tag would also take
// "_META"), or nil.
func metaOf(params json.RawMessage) map[string]json.RawMessage {
	var p, meta map[string]json.RawMessage
	if json.Unmarshal(params, &p) != nil || json.Unmarshal(p["_meta"], &meta) != nil {
		return nil
	}
	return meta
}
