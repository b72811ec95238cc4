package serve

import (
	"encoding/json"
	"errors"

	"github.com/keyrelay/keyrelay/internal/mcp"
)

// The results the server writes, with only the fields it sets. Field order
// and omission follow mcp-go v1.2.1's types, so the bytes on stdout are the
// ones it wrote.

// resultBase is what the 2026-07-28 revision adds to every result.
type resultBase struct {
	Meta       map[string]any `json:"_meta,omitempty"`
	ResultType string         `json:"resultType,omitempty"`
}

// cacheHints are the 2026-07-28 cache hints of lists and server/discover.
type cacheHints struct {
	TTLMs      *int64 `json:"ttlMs,omitempty"`
	CacheScope string `json:"cacheScope,omitempty"`
}

// modern fills in what the 2026-07-28 revision requires of every result:
// resultType, and serverInfo in _meta.
func (r *resultBase) modern(info mcp.Implementation) {
	r.ResultType = "complete"
	if r.Meta == nil {
		r.Meta = map[string]any{}
	}
	r.Meta[mcp.MetaKeyServerInfo] = info
}

// private sets the cache hints the server gives: not cached, not shared.
func (c *cacheHints) private() {
	var zero int64
	c.TTLMs, c.CacheScope = &zero, "private"
}

type capabilities struct {
	Logging *struct{} `json:"logging,omitempty"`
	Tools   *struct {
		ListChanged bool `json:"listChanged,omitempty"`
	} `json:"tools,omitempty"`
}

type initializeResult struct {
	ProtocolVersion string             `json:"protocolVersion"`
	Capabilities    capabilities       `json:"capabilities"`
	ServerInfo      mcp.Implementation `json:"serverInfo"`
	Instructions    string             `json:"instructions,omitempty"`
}

type discoverResult struct {
	resultBase
	cacheHints
	SupportedVersions []string     `json:"supportedVersions"`
	Capabilities      capabilities `json:"capabilities"`
	Instructions      string       `json:"instructions,omitempty"`
}

type listToolsResult struct {
	resultBase
	cacheHints
	NextCursor string `json:"nextCursor,omitempty"`
	Tools      []tool `json:"tools"`
}

// tool is a tool definition as listed to the client. The input schema is
// the backend's, as sent.
type tool struct {
	Annotations struct{}        `json:"annotations"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"inputSchema"`
	Name        string          `json:"name"`
}

// callToolResult is a tools/call result; its fields are in the sorted
// order mcp-go wrote them in.
type callToolResult struct {
	Meta              map[string]any    `json:"_meta,omitempty"`
	Content           []json.RawMessage `json:"content"`
	IsError           bool              `json:"isError,omitempty"`
	ResultType        string            `json:"resultType,omitempty"`
	StructuredContent json.RawMessage   `json:"structuredContent,omitempty"`
}

func (r *callToolResult) modern(info mcp.Implementation) {
	b := resultBase{Meta: r.Meta}
	b.modern(info)
	r.Meta, r.ResultType = b.Meta, b.ResultType
}

// toolError is an isError result with one text block.
func toolError(text string) *callToolResult {
	b, _ := json.Marshal(textContent{Type: "text", Text: text})
	return &callToolResult{Content: []json.RawMessage{b}, IsError: true}
}

// textContent is a text content block. Text blocks, nearly all of them,
// are decoded and encoded again, as mcp-go did; see content.
type textContent struct {
	Annotations *annotations    `json:"annotations,omitempty"`
	Meta        *map[string]any `json:"_meta,omitempty"` // a pointer: {} is kept
	Type        string          `json:"type"`
	Text        string          `json:"text"`
}

type annotations struct {
	Audience     []string `json:"audience,omitempty"`
	Priority     *float64 `json:"priority,omitempty"`
	LastModified string   `json:"lastModified,omitempty"`
}

// contentTypes are the content block types the server passes on.
var contentTypes = map[string]bool{"text": true, "image": true, "audio": true, "resource_link": true,
	"resource": true, "tool_use": true, "tool_result": true}

var errContent = errors.New("unreadable content block")

// content checks one content block from the backend: an object whose type
// is a known content type. A text block is returned as mcp-go encoded it
// (known fields only, in its order); the others are passed on as sent.
func content(raw json.RawMessage) (json.RawMessage, error) {
	var head struct {
		Type any `json:"type"`
	}
	if json.Unmarshal(raw, &head) != nil {
		return nil, errContent
	}
	t, ok := head.Type.(string)
	if !ok || !contentTypes[t] {
		return nil, errContent
	}
	if t != "text" {
		return raw, nil
	}
	var c textContent
	if json.Unmarshal(raw, &c) != nil {
		return nil, errContent
	}
	return json.Marshal(c)
}

// notification is a JSON-RPC notification. Params, when set, is an object.
type notification struct {
	JSONRPC string         `json:"jsonrpc"`
	Method  string         `json:"method"`
	Params  map[string]any `json:"params,omitempty"`
}

// subscriptionFilter is the notifications member of subscriptions/listen.
type subscriptionFilter struct {
	ToolsListChanged      bool     `json:"toolsListChanged,omitempty"`
	PromptsListChanged    bool     `json:"promptsListChanged,omitempty"`
	ResourcesListChanged  bool     `json:"resourcesListChanged,omitempty"`
	ResourceSubscriptions []string `json:"resourceSubscriptions,omitempty"`
}

func (f subscriptionFilter) empty() bool {
	return !f.ToolsListChanged && !f.PromptsListChanged && !f.ResourcesListChanged && len(f.ResourceSubscriptions) == 0
}
