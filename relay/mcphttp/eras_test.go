package mcphttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/front"
)

// The server/discover answer tells the server's eras; the relay speaks the
// client's era when the server has it, else the server's.
func TestEraDecision(t *testing.T) {
	discover := func(versions string) *front.Message {
		return front.Result(json.RawMessage(`1`), json.RawMessage(`{"supportedVersions":`+versions+`,"capabilities":{}}`))
	}
	cases := []struct {
		name                    string
		resp                    *front.Message
		eras                    serverEras
		client2025              bool // what the relay speaks to a 2025-era client: modern?
		client2026, noCommonEra bool
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

// A 2025-era client's request gets the 2026-07-28 _meta; a 2026-07-28
// client's passes unchanged.
func TestModernParams(t *testing.T) {
	rm := requestMeta{caps: json.RawMessage(`{"sampling":{}}`), info: json.RawMessage(`{"name":"c","version":"1"}`), level: "debug"}
	out, err := modernParams(json.RawMessage(`{"name":"ask","_meta":{"progressToken":"p"}}`), rm)
	testkit.NoErr(t, err)
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

// testTrip is a round trip that records whether it was abandoned.
func testTrip() (*roundTrip, func() bool) {
	var mu sync.Mutex
	abandoned := false
	rt := &roundTrip{done: make(chan struct{})}
	rt.abandon = func(string) {
		mu.Lock()
		abandoned = true
		mu.Unlock()
	}
	return rt, func() bool { mu.Lock(); defer mu.Unlock(); return abandoned }
}

func newTestStore(max int) (*stateStore, *testkit.StepClock) {
	c := testkit.NewStepClock(time.Unix(1_800_000_000, 0))
	s := newStateStore()
	s.max, s.now = max, c.Now
	return s, c
}

// A requestState is random, long, good for one retry of the request it
// was made for, and refused after its time; unknown states are refused;
// at most max are pending.
func TestStateStore(t *testing.T) {
	t.Run("single use", func(t *testing.T) {
		s, _ := newTestStore(4)
		rt, _ := testTrip()
		tok, err := s.put(rt, "tools/call", "ask")
		if err != nil || len(tok) < 43 {
			t.Fatalf("put: %q %v", tok, err)
		}
		if got, err := s.take(tok, "tools/call", "ask"); got != rt || err != nil {
			t.Fatalf("take: %v %v", got, err)
		}
		if _, err := s.take(tok, "tools/call", "ask"); !errors.Is(err, ErrUnknownState) {
			t.Fatalf("second take: %v, want ErrUnknownState", err)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		s, _ := newTestStore(4)
		rt, _ := testTrip()
		tok, _ := s.put(rt, "tools/call", "ask")
		for _, bad := range []string{"", "bogus", tok[:len(tok)-1], tok + "A"} {
			if _, err := s.take(bad, "tools/call", "ask"); !errors.Is(err, ErrUnknownState) {
				t.Fatalf("take(%q): %v, want ErrUnknownState", bad, err)
			}
		}
		if s.len() != 1 {
			t.Fatal("a wrong state spent the right one")
		}
	})
	t.Run("expiry", func(t *testing.T) {
		s, c := newTestStore(4)
		rt, abandoned := testTrip()
		tok, _ := s.put(rt, "tools/call", "ask")
		c.Advance(stateTTL)
		if _, err := s.take(tok, "tools/call", "ask"); !errors.Is(err, ErrUnknownState) || !abandoned() {
			t.Fatalf("expired take: %v, abandoned %v", err, abandoned())
		}
	})
	t.Run("bound to the request", func(t *testing.T) {
		s, _ := newTestStore(4)
		rt, abandoned := testTrip()
		tok, _ := s.put(rt, "tools/call", "ask")
		if _, err := s.take(tok, "tools/call", "whoami"); !errors.Is(err, ErrStateMismatch) || !abandoned() {
			t.Fatalf("other tool: %v, abandoned %v", err, abandoned())
		}
		rt2, _ := testTrip()
		tok, _ = s.put(rt2, "tools/call", "ask")
		if _, err := s.take(tok, "prompts/get", "ask"); !errors.Is(err, ErrStateMismatch) {
			t.Fatalf("other method: %v", err)
		}
		if _, err := s.take(tok, "tools/call", "ask"); !errors.Is(err, ErrUnknownState) {
			t.Fatalf("after a mismatch: %v, want the state spent", err)
		}
	})
	t.Run("cap", func(t *testing.T) {
		s, c := newTestStore(2)
		var toks []string
		for range 2 {
			rt, _ := testTrip()
			tok, err := s.put(rt, "tools/call", "ask")
			testkit.NoErr(t, err)
			toks = append(toks, tok)
		}
		if toks[0] == toks[1] {
			t.Fatal("two states are equal")
		}
		rt, _ := testTrip()
		if _, err := s.put(rt, "tools/call", "ask"); !errors.Is(err, ErrTooManyStates) {
			t.Fatalf("third put: %v, want ErrTooManyStates", err)
		}
		testkit.NoErr(t, testkit.ErrOf(s.take(toks[0], "tools/call", "ask")))
		testkit.NoErr(t, testkit.ErrOf(s.put(rt, "tools/call", "ask")), "put after a take")
		c.Advance(stateTTL) // expired states make room
		rt2, _ := testTrip()
		if _, err := s.put(rt2, "tools/call", "ask"); err != nil || s.len() != 1 {
			t.Fatalf("put after expiry: %v, %d pending", err, s.len())
		}
	})
	t.Run("close", func(t *testing.T) {
		s, _ := newTestStore(4)
		rt, abandoned := testTrip()
		tok, _ := s.put(rt, "tools/call", "ask")
		s.close()
		if _, err := s.take(tok, "tools/call", "ask"); !errors.Is(err, ErrUnknownState) || !abandoned() {
			t.Fatalf("after close: %v, abandoned %v", err, abandoned())
		}
	})
}

// The timer abandons a round trip nobody retried.
func TestStateStoreTimerAbandons(t *testing.T) {
	s := newStateStore()
	s.ttl = time.Millisecond
	rt, _ := testTrip()
	done := make(chan struct{})
	rt.abandon = func(string) { close(done) }
	testkit.NoErr(t, testkit.ErrOf(s.put(rt, "tools/call", "ask")))
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the expired state was not abandoned")
	}
	if s.len() != 0 {
		t.Fatal("the expired state is still there")
	}
}
