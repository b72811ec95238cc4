package proxy

import (
	"encoding/json"
	"strings"

	"github.com/keyrelay/keyrelay/internal/mcp"
)

// message is one JSON-RPC 2.0 message, kept raw so that what is not
// interpreted passes through unchanged.
type message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// JSON-RPC error codes used by the proxy.
const (
	codeParse          = mcp.CodeParseError
	codeInvalidRequest = mcp.CodeInvalidRequest
	codeMethodNotFound = mcp.CodeMethodNotFound
	codeInvalidParams  = mcp.CodeInvalidParams
	codeInternal       = mcp.CodeInternalError
)

func (m *message) hasID() bool { return len(m.ID) > 0 && string(m.ID) != "null" }

func (m *message) isRequest() bool      { return m.Method != "" && m.hasID() }
func (m *message) isNotification() bool { return m.Method != "" && !m.hasID() }
func (m *message) isResponse() bool     { return m.Method == "" && m.hasID() }

// idKey is a map key for a JSON-RPC id: 1 and "1" are different ids.
func idKey(raw json.RawMessage) string { return strings.TrimSpace(string(raw)) }

func resultMsg(id, result json.RawMessage) *message {
	return &message{JSONRPC: "2.0", ID: id, Result: result}
}

func errorMsg(id json.RawMessage, code int, text string) *message {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	return &message{JSONRPC: "2.0", ID: id, Error: &rpcError{Code: code, Message: text}}
}

func notification(method string, params any) *message {
	b, _ := json.Marshal(params)
	return &message{JSONRPC: "2.0", Method: method, Params: b}
}

// metaPrefix marks the 2026-07-28 per-request keys in _meta.
const metaPrefix = "io.modelcontextprotocol/"

// legacyParams removes the 2026-07-28 per-request keys from params' _meta
// for a 2025-era server, and returns the log level the request asked for.
// Params that are not an object pass unchanged.
func legacyParams(params json.RawMessage) (json.RawMessage, string) {
	var fields map[string]json.RawMessage
	if len(params) == 0 || json.Unmarshal(params, &fields) != nil || fields["_meta"] == nil {
		return params, ""
	}
	var meta map[string]json.RawMessage
	if json.Unmarshal(fields["_meta"], &meta) != nil {
		return params, ""
	}
	var level string
	_ = json.Unmarshal(meta[metaPrefix+"logLevel"], &level)
	for k := range meta {
		if strings.HasPrefix(k, metaPrefix) {
			delete(meta, k)
		}
	}
	if len(meta) == 0 {
		delete(fields, "_meta")
	} else {
		fields["_meta"], _ = json.Marshal(meta)
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return params, level
	}
	return out, level
}

// cacheable are the methods whose 2026-07-28 results carry the caching
// hints ttlMs and cacheScope (SEP-2549), as is server/discover's.
var cacheable = map[string]bool{"tools/list": true, "prompts/list": true, "resources/list": true,
	"resources/templates/list": true, "resources/read": true}

// withResultType adds resultType "complete" to a result object that has
// none, as the 2026-07-28 era requires.
func withResultType(result json.RawMessage) json.RawMessage { return modernResult("", result) }

// modernResult adds what the 2026-07-28 era requires of a result of method
// and a 2025-era server does not send: resultType "complete", and for the
// cacheable methods the hints ttlMs 0 (always revalidate: list_changed
// still tells of changes) and cacheScope "private" (the result was fetched
// with one person's token, so no shared cache may reuse it). What the
// server sent is kept.
func modernResult(method string, result json.RawMessage) json.RawMessage {
	var fields map[string]json.RawMessage
	if json.Unmarshal(result, &fields) != nil || fields == nil {
		return result
	}
	changed := false
	if fields["resultType"] == nil {
		fields["resultType"], changed = json.RawMessage(`"complete"`), true
	}
	if cacheable[method] && string(fields["resultType"]) == `"complete"` {
		if fields["ttlMs"] == nil {
			fields["ttlMs"], changed = json.RawMessage(`0`), true
		}
		if fields["cacheScope"] == nil {
			fields["cacheScope"], changed = json.RawMessage(`"private"`), true
		}
	}
	if !changed {
		return result
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return result
	}
	return out
}

// progressToken returns params._meta.progressToken, or nil.
func progressToken(params json.RawMessage) any {
	var p struct {
		Meta struct {
			ProgressToken any `json:"progressToken"`
		} `json:"_meta"`
	}
	_ = json.Unmarshal(params, &p)
	return p.Meta.ProgressToken
}
