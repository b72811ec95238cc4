package serve

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/keyrelay/keyrelay/internal/mcp"
)

// rpcMessage is one JSON-RPC 2.0 message from the client. The id is kept raw
// and echoed byte for byte, so 1 and "1" (and ids beyond float64's
// precision) stay distinct.
type rpcMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
}

// params holds the fields of every request parameter object the server
// reads, decoded once.
type params struct {
	Meta            requestMeta        `json:"_meta"`
	ProtocolVersion string             `json:"protocolVersion"`
	Level           mcp.LoggingLevel   `json:"level"`
	Name            string             `json:"name"`
	Arguments       json.RawMessage    `json:"arguments"`
	Cursor          string             `json:"cursor"`
	Notifications   subscriptionFilter `json:"notifications"`
	RequestID       json.RawMessage    `json:"requestId"`
}

// requestMeta is a request's _meta object, its members kept raw and decoded
// only when read: keys match exactly, as in a map.
type requestMeta map[string]json.RawMessage

// str returns the string member key, or "" when it is absent or not a
// string.
func (m requestMeta) str(key string) string {
	var s string
	if raw := m[key]; raw != nil && json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// object reports whether member key is a JSON object.
func (m requestMeta) object(key string) bool {
	raw := m[key]
	return len(raw) > 0 && raw[0] == '{'
}

// progressToken returns the request's progress token, nil for none.
func (m requestMeta) progressToken() any {
	raw := m["progressToken"]
	if raw == nil {
		return nil
	}
	var t any
	_ = json.Unmarshal(raw, &t)
	return t
}

// response is one JSON-RPC 2.0 response: a result or an error.
type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// JSON-RPC and MCP error codes the server answers with.
const (
	codeParse          = mcp.CodeParseError     // -32700
	codeInvalidRequest = mcp.CodeInvalidRequest // -32600
	codeNoMethod       = mcp.CodeMethodNotFound // -32601
	codeInvalidParams  = mcp.CodeInvalidParams  // -32602
	codeInternal       = mcp.CodeInternalError  // -32603
)

// The texts of errors a client may match on, as mcp-go v1.2.1 wrote them.
var (
	errRemoved        = errors.New("was removed in protocol version " + mcp.ProtocolVersion20260728)
	errRequiresModern = errors.New("requires protocol version " + mcp.ProtocolVersion20260728 + " or later")
)

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// idKey is a map key for a JSON-RPC id: 1 and "1" are different ids.
func idKey(raw json.RawMessage) string { return string(raw) }

func result(id json.RawMessage, res any) *response {
	return &response{JSONRPC: mcp.JSONRPCVersion, ID: id, Result: res}
}

func fail(id json.RawMessage, code int, text string) *response {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	return &response{JSONRPC: mcp.JSONRPCVersion, ID: id, Error: &rpcError{Code: code, Message: text}}
}

func removed(m *rpcMessage) *response {
	return fail(m.ID, codeNoMethod, fmt.Sprintf("%q %v", m.Method, errRemoved))
}

func unparsable(m *rpcMessage, err error) *response {
	return fail(m.ID, codeInvalidRequest, fmt.Sprintf("unparsable %s request: %v", m.Method, err))
}

// era is what a request says about its protocol revision. A request is of
// the 2026-07-28 era only when its _meta names that revision or a later one;
// such a request must carry the client's capabilities, and may carry the
// log level it wants.
type era struct {
	modern   bool
	version  string
	logLevel mcp.LoggingLevel
}

// eraOf reads p's _meta. It fails for a modern request without client
// capabilities (-32602) or with a version this server does not know.
func eraOf(id json.RawMessage, p *params) (era, *response) {
	version := p.Meta.str(mcp.MetaKeyProtocolVersion)
	if !mcp.IsModernProtocol(version) {
		return era{version: version}, nil
	}
	if !p.Meta.object(mcp.MetaKeyClientCapabilities) {
		return era{}, fail(id, codeInvalidParams, "missing or invalid _meta field "+mcp.MetaKeyClientCapabilities)
	}
	if !mcp.IsValidProtocolVersion(version) {
		return era{}, &response{JSONRPC: mcp.JSONRPCVersion, ID: id, Error: &rpcError{Code: mcp.CodeUnsupportedProtocolVersion,
			Message: fmt.Sprintf("unsupported protocol version: %q (supported: %v)", version, mcp.ValidProtocolVersions),
			Data:    unsupportedVersion{Supported: mcp.ValidProtocolVersions, Requested: version}}}
	}
	return era{modern: true, version: version, logLevel: mcp.LoggingLevel(p.Meta.str(mcp.MetaKeyLogLevel))}, nil
}

// unsupportedVersion is the data of an unsupported protocol version error.
type unsupportedVersion struct {
	Supported []string `json:"supported"`
	Requested string   `json:"requested"`
}
