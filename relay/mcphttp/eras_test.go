package mcphttp

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/relay/front"
)

// The server/discover answer tells the server's eras; the relay speaks the
// client's era when the server has it, else the server's.
func TestEraDecision(t *testing.T) {
	discover := func(versions string) *front.Message {
		return front.Result(json.RawMessage(`1`), json.RawMessage(`{"supportedVersions":`+versions+`,"capabilities":{}}`))
	}
	cases := []struct {
		name        string
		resp        *front.Message
		eras        serverEras
		client2025  bool // what the relay speaks to a 2025-era client: modern?
		client2026  bool
		noCommonEra bool
	}{
		{"method not found", front.Fail(json.RawMessage(`1`), mcp.CodeMethodNotFound, "Method not found"), serverEras{legacy: true}, false, false, false},
		{"not a result", front.Result(json.RawMessage(`1`), json.RawMessage(`{}`)), serverEras{legacy: true}, false, false, false},
		{"both eras", discover(`["2026-07-28","2025-11-25","2025-06-18"]`), serverEras{modern: true, legacy: true}, false, true, false},
		{"2026-07-28 only", discover(`["2026-07-28"]`), serverEras{modern: true}, true, true, false},
		{"2025 only, named", discover(`["2025-11-25"]`), serverEras{legacy: true}, false, false, false},
		{"none known", discover(`["2031-01-01"]`), serverEras{}, false, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := erasFrom(tc.resp)
			if e.modern != tc.eras.modern || e.legacy != tc.eras.legacy {
				t.Fatalf("eras: %+v, want %+v", e, tc.eras)
			}
			for _, c := range []struct {
				modernClient, want bool
			}{{false, tc.client2025}, {true, tc.client2026}} {
				got, err := chooseModern(c.modernClient, e)
				if tc.noCommonEra {
					if !errors.Is(err, errNoCommonEra) {
						t.Fatalf("client modern=%v: %v, want errNoCommonEra", c.modernClient, err)
					}
					continue
				}
				if err != nil || got != c.want {
					t.Fatalf("client modern=%v: modern=%v %v, want %v", c.modernClient, got, err, c.want)
				}
			}
		})
	}
}

// The probe is the one anchors.md gives.
func TestDiscoverProbe(t *testing.T) {
	want := `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
	b, _ := json.Marshal(&front.Message{JSONRPC: "2.0", ID: json.RawMessage(`1`), Method: "server/discover", Params: discoverProbe})
	if string(b) != want {
		t.Fatalf("probe:\n%s\nwant\n%s", b, want)
	}
}

// A 2026-07-28 POST carries its method, name and annotated arguments in
// headers.
func TestStandardHeaders(t *testing.T) {
	var ph paramHeaders
	ph.learn(json.RawMessage(`{"tools":[{"name":"deploy","inputSchema":{"type":"object","properties":{
		"region":{"type":"string","x-mcp-header":"Region"},
		"opts":{"type":"object","properties":{"dry":{"type":"boolean","x-mcp-header":"Dry"}}},
		"count":{"type":"integer","x-mcp-header":"Count"}}}}]}`))
	m := &front.Message{Method: "tools/call", Params: json.RawMessage(`{"name":"deploy","arguments":{"region":"eü","opts":{"dry":true},"count":3}}`)}
	h := http.Header{}
	standardHeaders(h, m)
	ph.set(h, m)
	for k, v := range map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "deploy", "Mcp-Param-Region": "=?base64?ZcO8?=",
		"Mcp-Param-Dry": "true", "Mcp-Param-Count": "3"} {
		if h.Get(k) != v {
			t.Fatalf("%s: %q, want %q (%v)", k, h.Get(k), v, h)
		}
	}
	h = http.Header{}
	standardHeaders(h, &front.Message{Method: "resources/read", Params: json.RawMessage(`{"uri":"test://notes"}`)})
	if h.Get("Mcp-Name") != "test://notes" {
		t.Fatalf("resources/read: %v", h)
	}
}
