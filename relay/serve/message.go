package serve

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
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
	Meta            *mcp.Meta              `json:"_meta"`
	ProtocolVersion string                 `json:"protocolVersion"`
	Level           mcp.LoggingLevel       `json:"level"`
	Name            string                 `json:"name"`
	Arguments       json.RawMessage        `json:"arguments"`
	Cursor          string                 `json:"cursor"`
	Notifications   mcp.SubscriptionFilter `json:"notifications"`
	RequestID       json.RawMessage        `json:"requestId"`
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
	codeParse          = mcp.PARSE_ERROR      // -32700
	codeInvalidRequest = mcp.INVALID_REQUEST  // -32600
	codeNoMethod       = mcp.METHOD_NOT_FOUND // -32601
	codeInvalidParams  = mcp.INVALID_PARAMS   // -32602
	codeInternal       = mcp.INTERNAL_ERROR   // -32603
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
	return &response{JSONRPC: mcp.JSONRPC_VERSION, ID: id, Result: res}
}

func fail(id json.RawMessage, code int, text string) *response {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	return &response{JSONRPC: mcp.JSONRPC_VERSION, ID: id, Error: &rpcError{Code: code, Message: text}}
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
	version := p.Meta.ProtocolVersion()
	if !mcp.IsModernProtocol(version) {
		return era{version: version}, nil
	}
	if p.Meta.ClientCapabilities() == nil {
		return era{}, fail(id, codeInvalidParams, "missing or invalid _meta field "+mcp.MetaKeyClientCapabilities)
	}
	if !mcp.IsValidProtocolVersion(version) {
		e := mcp.UnsupportedProtocolVersionError{Version: version, Supported: mcp.ValidProtocolVersions}.JSONRPCError()
		return era{}, &response{JSONRPC: mcp.JSONRPC_VERSION, ID: id, Error: &rpcError{Code: e.Error.Code, Message: e.Error.Message, Data: e.Error.Data}}
	}
	return era{modern: true, version: version, logLevel: p.Meta.LogLevel()}, nil
}

// modernResult is a result that carries the 2026-07-28 result metadata.
type modernResult interface {
	GetResultType() mcp.ResultType
	SetResultType(mcp.ResultType)
	EnsureResultMeta() *mcp.Meta
}

// decorate adds what the 2026-07-28 era requires of every result
// (resultType, serverInfo in _meta) and, for lists and server/discover,
// the cache hints.
func decorate(r modernResult, info mcp.Implementation) {
	if r.GetResultType() == "" {
		r.SetResultType(mcp.ResultTypeComplete)
	}
	if meta := r.EnsureResultMeta(); meta != nil && meta.ServerInfo() == nil {
		meta.SetServerInfo(info)
	}
	if c, ok := r.(interface {
		TTL() (int64, bool)
		SetCacheHints(int64, mcp.CacheScope)
	}); ok {
		if _, set := c.TTL(); !set {
			c.SetCacheHints(0, mcp.CacheScopePrivate)
		}
	}
}
