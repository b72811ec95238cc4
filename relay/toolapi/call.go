package toolapi

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/relay/front"
)

// callTool answers tools/call. A tool the relay does not know (or knows
// only as a placeholder) makes it list the backend's tools again. A tool
// still unknown is not found (-32602, as an MCP server answers) when the
// backend listed its tools; when it could not, the call's isError result
// says why, and the name is listed as a placeholder tool until the
// backend lists again, so the client keeps seeing it.
func (u *Upstream) callTool(ctx context.Context, r *front.Call) (*front.Message, error) {
	var p struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := json.Unmarshal(r.Params, &p); err != nil {
		return front.Fail(r.ID, mcp.CodeInvalidParams, "Invalid params: "+front.Scrub(err.Error())), nil
	}
	t, ok := u.entry(p.Name)
	if !ok || t.placeholder {
		if err := u.refresh(ctx, true); err != nil {
			u.placeholder(p.Name)
			return nil, &listError{err}
		}
		if t, ok = u.entry(p.Name); !ok {
			return front.Fail(r.ID, mcp.CodeInvalidParams, fmt.Sprintf("tool '%s' not found: tool not found", front.Scrub(p.Name))), nil
		}
	}
	args := p.Arguments
	if len(args) > 0 && args[0] != '{' && string(args) != "null" {
		return front.Result(r.ID, front.ToolError("arguments must be a JSON object")), nil
	}
	res, err := u.api.CallTool(ctx, p.Name, args, t.api.Meta.RequiresAuth)
	if err != nil {
		return nil, err
	}
	return front.Result(r.ID, toMCP(res)), nil
}

// callResult is a tools/call result, in the field order mcp-go wrote.
type callResult struct {
	Content           []json.RawMessage `json:"content"`
	IsError           bool              `json:"isError,omitempty"`
	StructuredContent json.RawMessage   `json:"structuredContent,omitempty"`
}

// toMCP checks the backend's result and makes the client's of it.
func toMCP(r *Result) json.RawMessage {
	out := callResult{IsError: r.IsError, Content: make([]json.RawMessage, 0, len(r.Content))}
	for _, raw := range r.Content {
		c, err := content(raw)
		if err != nil {
			return front.ToolError("the backend sent a content block keyrelay cannot read")
		}
		out.Content = append(out.Content, c)
	}
	if len(r.StructuredContent) > 0 && r.StructuredContent[0] == '{' {
		out.StructuredContent = r.StructuredContent
	}
	return front.Object(out)
}

// listError is a tool call that failed because the backend could not list
// its tools.
type listError struct{ err error }

func (e *listError) Error() string { return "toolapi: listing the tools: " + e.err.Error() }
func (e *listError) Unwrap() error { return e.err }

// UserText says why.
func (e *listError) UserText() string {
	return "keyrelay cannot list the backend's tools: " + front.Text(e.err)
}
