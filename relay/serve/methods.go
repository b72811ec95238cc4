package serve

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/keyrelay/keyrelay/internal/mcp"
)

const instructions = "keyrelay forwards these tools to an OAuth-protected backend. " +
	"When a tool needs a sign-in, a browser opens; if it cannot, the tool result contains the URL to open."

// pageSize is the most tools one tools/list answer holds.
const pageSize = 1000

// unsupported are the MCP methods this server knows but does not serve,
// with the capability they belong to; removedToo marks those the
// 2026-07-28 revision dropped.
var unsupported = map[string]struct {
	capability string
	removed    bool
}{
	"resources/list":           {"resources", false},
	"resources/templates/list": {"resources", false},
	"resources/read":           {"resources", false},
	"resources/subscribe":      {"resources", true},
	"resources/unsubscribe":    {"resources", true},
	"prompts/list":             {"prompts", false},
	"prompts/get":              {"prompts", false},
	"tasks/get":                {"tasks", false},
	"tasks/list":               {"tasks", true},
	"tasks/result":             {"tasks", true},
	"tasks/cancel":             {"tasks", false},
	"completion/complete":      {"completions", false},
}

// served are the methods dispatch answers.
var served = map[string]bool{"initialize": true, "ping": true, "server/discover": true, "logging/setLevel": true,
	"tools/list": true, "tools/call": true, "subscriptions/listen": true}

// request answers one client request: at once for the handshake and local
// methods, on its own goroutine for those that need the backend.
func (ss *session) request(m *rpcMessage) {
	var p params
	var perr error
	if !isNull(m.Params) {
		if perr = json.Unmarshal(m.Params, &p); perr != nil {
			p = params{} // a malformed body is reported by the method
		}
	}
	e, bad := eraOf(m.ID, &p)
	if bad != nil {
		ss.send(bad)
		return
	}
	if e.modern {
		ss.initialize(false)
	}
	if u, ok := unsupported[m.Method]; ok {
		if u.removed && e.modern {
			ss.send(removed(m))
		} else {
			ss.send(fail(m.ID, codeNoMethod, u.capability+" not supported"))
		}
		return
	}
	if served[m.Method] && perr != nil {
		ss.send(unparsable(m, perr))
		return
	}
	ss.dispatch(m, &p, e)
}

func (ss *session) dispatch(m *rpcMessage, p *params, e era) {
	s := ss.srv
	switch m.Method {
	case "initialize":
		if e.modern {
			ss.send(removed(m))
			return
		}
		ss.initialize(true)
		ss.send(result(m.ID, initializeResult{ProtocolVersion: mcp.NegotiateLegacyVersion(p.ProtocolVersion),
			Capabilities: serverCapabilities(), ServerInfo: s.info(), Instructions: instructions}))
	case "ping":
		if e.modern {
			ss.send(removed(m))
			return
		}
		ss.send(result(m.ID, struct{}{}))
	case "server/discover":
		if !e.modern {
			ss.send(fail(m.ID, codeNoMethod, fmt.Sprintf("%q %v", m.Method, errRequiresModern)))
			return
		}
		r := &discoverResult{SupportedVersions: mcp.ValidProtocolVersions, Capabilities: serverCapabilities(), Instructions: instructions}
		r.modern(s.info())
		r.private()
		ss.send(result(m.ID, r))
	case "logging/setLevel":
		if e.modern {
			ss.send(removed(m))
			return
		}
		ss.send(ss.setLevel(m.ID, p.Level))
	case "tools/list":
		ss.spawn(m.ID, e, func(ctx context.Context) *response { return ss.listTools(ctx, m.ID, p.Cursor, e) })
	case "tools/call":
		ss.spawn(m.ID, e, func(ctx context.Context) *response { return ss.callTool(ctx, m.ID, p, e) })
	case "subscriptions/listen":
		if !e.modern {
			ss.send(fail(m.ID, codeNoMethod, fmt.Sprintf("%q %v", m.Method, errRequiresModern)))
			return
		}
		ss.spawn(m.ID, e, func(ctx context.Context) *response { return ss.listen(ctx, m.ID, p.Notifications) })
	default:
		ss.send(fail(m.ID, codeNoMethod, fmt.Sprintf("Method %s not found", m.Method)))
	}
}

// serverCapabilities are the server's: tools with list_changed, and
// logging.
func serverCapabilities() capabilities {
	return capabilities{
		Tools: &struct {
			ListChanged bool `json:"listChanged,omitempty"`
		}{ListChanged: true},
		Logging: &struct{}{},
	}
}

func (ss *session) setLevel(id json.RawMessage, level mcp.LoggingLevel) *response {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if !ss.initialized {
		return fail(id, codeInternal, "session not properly initialized")
	}
	if !level.Valid() {
		return fail(id, codeInvalidParams, fmt.Sprintf("invalid logging level '%s'", level))
	}
	ss.level = level
	return result(id, struct{}{})
}

// listTools answers tools/list from the cache, refreshed from the backend
// when stale, a page of pageSize tools at a time. The cursor is the
// base64 of the last name of the previous page.
func (ss *session) listTools(ctx context.Context, id json.RawMessage, cursor string, e era) *response {
	ss.srv.wired()
	ss.srv.refreshTools(ctx, false)
	tools := ss.srv.list()
	start := 0
	if cursor != "" {
		c, err := base64.StdEncoding.DecodeString(cursor)
		if err != nil {
			return fail(id, codeInvalidParams, err.Error())
		}
		start = sort.Search(len(tools), func(i int) bool { return tools[i].Name > string(c) })
	}
	end := min(len(tools), start+pageSize)
	r := &listToolsResult{Tools: tools[start:end]}
	if end < len(tools) {
		r.NextCursor = base64.StdEncoding.EncodeToString([]byte(tools[end-1].Name))
	}
	if e.modern {
		r.modern(ss.srv.info())
		r.private()
	}
	return result(id, r)
}

// listen serves subscriptions/listen (2026-07-28): it acknowledges the
// subscription the server can keep (tools list_changed) and holds the
// request open while there is one.
func (ss *session) listen(ctx context.Context, id json.RawMessage, want subscriptionFilter) *response {
	allowed := subscriptionFilter{ToolsListChanged: want.ToolsListChanged}
	ss.send(notification{JSONRPC: mcp.JSONRPCVersion, Method: mcp.MethodNotificationSubscriptionsAcknowledged,
		Params: map[string]any{"_meta": map[string]any{mcp.MetaKeySubscriptionID: id}, "notifications": allowed}})
	if !allowed.empty() {
		<-ctx.Done()
	}
	r := &resultBase{Meta: map[string]any{mcp.MetaKeySubscriptionID: id}}
	r.modern(ss.srv.info())
	return result(id, r)
}
