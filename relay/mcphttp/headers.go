package mcphttp

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/relay/front"
)

// A 2026-07-28 server wants the method and the name of each POST's
// message in headers too (Mcp-Method, Mcp-Name), and the tool arguments
// whose schema carries an x-mcp-header annotation (Mcp-Param-<name>), so
// that gateways can route without reading bodies (SEP-2243). The server
// rejects a request whose headers disagree with its body.

// standardHeaders sets Mcp-Method and Mcp-Name for m.
func standardHeaders(h http.Header, m *front.Message) {
	if m.Method == "" {
		return
	}
	h.Set("Mcp-Method", m.Method)
	var p struct {
		Name string `json:"name"`
		URI  string `json:"uri"`
	}
	_ = json.Unmarshal(m.Params, &p)
	switch m.Method {
	case mcp.MethodToolsCall, mcp.MethodPromptsGet:
		h.Set("Mcp-Name", headerValue(p.Name))
	case mcp.MethodResourcesRead:
		h.Set("Mcp-Name", headerValue(p.URI))
	}
}

// headerValue is s as a header value: as is when it is plain printable
// ASCII, else base64 in the =?base64?...?= wrapper.
func headerValue(s string) string {
	plain := !strings.HasPrefix(s, " ") && !strings.HasPrefix(s, "\t") && !strings.HasSuffix(s, " ") &&
		!strings.HasSuffix(s, "\t") && !(strings.HasPrefix(s, "=?base64?") && strings.HasSuffix(s, "?="))
	for i := 0; plain && i < len(s); i++ {
		plain = s[i] >= 0x20 && s[i] <= 0x7E
	}
	if plain {
		return s
	}
	return "=?base64?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?="
}

// paramHeaders remembers, from the tools/list results that pass through,
// which arguments of each tool go in Mcp-Param-* headers. A tool whose
// annotations break the rules gets none (mcp.ParamHeaders). Safe for
// concurrent use.
type paramHeaders struct {
	mu    sync.Mutex
	tools map[string][]mcp.ParamHeader
}

// learn reads a tools/list result.
func (ph *paramHeaders) learn(result json.RawMessage) {
	var r struct {
		Tools []struct {
			Name        string          `json:"name"`
			InputSchema json.RawMessage `json:"inputSchema"`
		} `json:"tools"`
	}
	if json.Unmarshal(result, &r) != nil {
		return
	}
	ph.mu.Lock()
	defer ph.mu.Unlock()
	if ph.tools == nil {
		ph.tools = map[string][]mcp.ParamHeader{}
	}
	for _, t := range r.Tools {
		ph.tools[t.Name], _ = mcp.ParamHeaders(t.InputSchema)
	}
}

// set adds the Mcp-Param-* headers of a tools/call.
func (ph *paramHeaders) set(h http.Header, m *front.Message) {
	if m.Method != mcp.MethodToolsCall {
		return
	}
	var p struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if json.Unmarshal(m.Params, &p) != nil {
		return
	}
	ph.mu.Lock()
	bs := ph.tools[p.Name]
	ph.mu.Unlock()
	for _, b := range bs {
		if v, ok := argument(p.Arguments, b.Path); ok {
			h.Set("Mcp-Param-"+b.Header, headerValue(v))
		}
	}
}

// argument returns the primitive at path in args as header text.
func argument(args json.RawMessage, path []string) (string, bool) {
	cur := args
	for _, k := range path {
		var obj map[string]json.RawMessage
		if json.Unmarshal(cur, &obj) != nil || obj[k] == nil {
			return "", false
		}
		cur = obj[k]
	}
	var v any
	if json.Unmarshal(cur, &v) != nil {
		return "", false
	}
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		if v == float64(int64(v)) && v <= 1<<53-1 && v >= -(1<<53-1) {
			return strconv.FormatInt(int64(v), 10), true
		}
	}
	return "", false
}
