package mcphttp

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/mcp"
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

// FuzzMetaRewrite: the _meta rewriting between the eras. A 2026-07-28
// request made fit for a 2025-era session keeps no per-request key; one
// made fit for a 2026-07-28 server is of that era, and doing it twice
// changes nothing more; nothing panics, and params that are not an object
// are refused or passed unchanged.
func FuzzMetaRewrite(f *testing.F) {
	for _, s := range []string{`{"name":"x"}`, `{"_meta":{"progressToken":1,"io.modelcontextprotocol/logLevel":"debug"}}`, `[1]`, ``, `null`,
		`{"_meta":null}`, `{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}`, `{"_meta":5}`} {
		f.Add([]byte(s))
	}
	rm := requestMeta{caps: json.RawMessage(`{"sampling":{}}`), info: json.RawMessage(`{"name":"c"}`), level: "info"}
	f.Fuzz(func(t *testing.T, params []byte) {
		legacy, _ := legacyParams(params)
		for k := range metaOf(legacy) {
			if strings.HasPrefix(k, mcp.MetaKeyPrefix) {
				t.Fatalf("%s -> %s keeps %s", params, legacy, k)
			}
		}
		modern, err := modernParams(params, rm)
		if err != nil {
			return
		}
		if !isModern(modern) {
			t.Fatalf("%s -> %s is not of the 2026-07-28 era", params, modern)
		}
		again, err := modernParams(modern, rm)
		if err != nil || !bytes.Equal(again, modern) {
			t.Fatalf("%s -> %s -> %s, %v", params, modern, again, err)
		}
	})
}
