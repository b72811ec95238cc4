package front

import (
	"encoding/json"
	"fmt"

	"github.com/keyrelay/keyrelay/internal/mcp"
)

// MaxMessage bounds one JSON-RPC message from either side: one line on
// stdin, one line or event of a server's stream, one JSON body. A reader
// that holds whole messages in memory would otherwise grow without bound
// on an endless line. The backend takes at most 1 MiB per tool call;
// 16 MiB leaves room for any real message.
const MaxMessage = 16 << 20

// ErrMessageTooLarge reports a message over MaxMessage.
var ErrMessageTooLarge = fmt.Errorf("front: a message is over %d MiB", MaxMessage>>20)

// Message is one JSON-RPC 2.0 message, kept raw so that what the relay
// does not interpret passes through unchanged. The id is echoed byte for
// byte, so 1 and "1" (and ids beyond float64's precision) stay distinct.
type Message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

// Error is a JSON-RPC error object.
type Error struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// HasID reports whether m has an id other than null.
func (m *Message) HasID() bool { return !isNull(m.ID) }

// IsRequest reports whether m is a request: a method and an id.
func (m *Message) IsRequest() bool { return m.Method != "" && m.HasID() }

// IsNotification reports whether m is a notification: a method, no id.
func (m *Message) IsNotification() bool { return m.Method != "" && !m.HasID() }

// IsResponse reports whether m is a response: a result or an error, no
// method (an error may have a null id).
func (m *Message) IsResponse() bool { return m.Method == "" && (m.Result != nil || m.Error != nil) }

// IDKey is a map key for a JSON-RPC id: 1 and "1" are different ids.
func IDKey(id json.RawMessage) string { return string(id) }

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// Result is a response carrying result.
func Result(id, result json.RawMessage) *Message {
	return &Message{JSONRPC: mcp.JSONRPCVersion, ID: id, Result: result}
}

// Fail is an error response; a missing id becomes null.
func Fail(id json.RawMessage, code int, text string) *Message {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	return &Message{JSONRPC: mcp.JSONRPCVersion, ID: id, Error: &Error{Code: code, Message: text}}
}

// Request is a request message.
func Request(id json.RawMessage, method string, params json.RawMessage) *Message {
	return &Message{JSONRPC: mcp.JSONRPCVersion, ID: id, Method: method, Params: params}
}

// Notification is a notification message; params is marshalled.
func Notification(method string, params any) *Message {
	m := &Message{JSONRPC: mcp.JSONRPCVersion, Method: method}
	if params != nil {
		m.Params, _ = json.Marshal(params)
	}
	return m
}

// Object returns v marshalled; v must marshal (a map or a struct of
// plain fields).
func Object(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("front: " + err.Error())
	}
	return b
}

// WithParam returns params (an object, or empty) with key set to v.
func WithParam(params json.RawMessage, key string, v any) (json.RawMessage, error) {
	fields := map[string]json.RawMessage{}
	if !isNull(params) {
		if err := json.Unmarshal(params, &fields); err != nil {
			return nil, err
		}
		if fields == nil { // null, however spelt
			fields = map[string]json.RawMessage{}
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	fields[key] = b
	return json.Marshal(fields)
}

// Removed answers a 2026-07-28 request for a method that revision dropped.
func Removed(m *Message) *Message {
	return Fail(m.ID, mcp.CodeMethodNotFound, fmt.Sprintf("%q was removed in protocol version %s", m.Method, mcp.ProtocolVersion20260728))
}

// requiresModern answers a 2025-era request for a 2026-07-28 method.
func requiresModern(m *Message) *Message {
	return Fail(m.ID, mcp.CodeMethodNotFound, fmt.Sprintf("%q requires protocol version %s or later", m.Method, mcp.ProtocolVersion20260728))
}

// MethodNotFound answers a request for a method nobody serves, as mcp-go
// does.
func MethodNotFound(m *Message) *Message {
	return Fail(m.ID, mcp.CodeMethodNotFound, fmt.Sprintf("Method %s not found", m.Method))
}
