package tool

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Handler runs a tool. args has passed the tool's input schema. user is nil
// for a public tool called without a token. A returned error becomes a
// result with isError true and the error's text, so write errors meant for
// the caller; return a *Result with IsError for full control.
type Handler func(ctx context.Context, args map[string]any, user *User) (*Result, error)

// Tool is one registered tool.
type Tool struct {
	Name        string
	Description string
	// InputSchema is a JSON Schema object with "type":"object", in the
	// subset documented on Schema.
	InputSchema json.RawMessage
	// RequiresAuth makes the tool refuse callers without a valid token.
	RequiresAuth bool
	// Scopes are all required. Non-empty Scopes imply RequiresAuth.
	Scopes  []string
	Handler Handler
}

// User is the caller, as the validated access token says.
type User struct {
	Subject  string
	ClientID string
	Issuer   string
	Scopes   []string
	Expiry   time.Time
	TokenID  string // jti
}

// Result is an MCP CallToolResult.
type Result struct {
	Content           []Content `json:"content"`
	StructuredContent any       `json:"structuredContent,omitempty"`
	IsError           bool      `json:"isError"`
}

// Content is a text content block.
type Content struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Text returns a successful result holding s.
func Text(s string) *Result {
	return &Result{Content: []Content{{Type: "text", Text: s}}}
}

// Errorf returns a failed result (isError true) with a formatted text.
func Errorf(format string, a ...any) *Result {
	r := Text(fmt.Sprintf(format, a...))
	r.IsError = true
	return r
}

// JSON returns a successful result whose text is v as indented JSON and
// whose structuredContent is v.
func JSON(v any) (*Result, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("tool: encode result: %w", err)
	}
	r := Text(string(b))
	r.StructuredContent = v
	return r, nil
}

// listing is a tool as GET /mcp/tools shows it.
type listing struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"inputSchema"`
	Meta        listingMeta     `json:"_meta"`
}

type listingMeta struct {
	RequiresAuth bool     `json:"requiresAuth"`
	Scopes       []string `json:"scopes"`
}
