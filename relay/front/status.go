package front

import (
	"encoding/json"

	"github.com/keyrelay/keyrelay/internal/mcp"
)

// StatusTool is the tool listed when the relay cannot list the server's
// tools because it is not configured: calling it shows why, where the
// person sees it.
const StatusTool = "keyrelay_status"

// configAnswer answers m while the relay is not configured: tools/list
// shows StatusTool, a tool call (of any name) says why as an isError
// result, anything else as a JSON-RPC error.
func (s *session) configAnswer(m *Message, era Era, err error) *Message {
	if m.Method == mcp.MethodToolsList {
		list := Object(map[string]any{"tools": []any{statusToolDef("keyrelay is not configured; call this to see why")}})
		return Result(m.ID, s.decorate(m.Method, list, era))
	}
	return s.failed(m, era, configText(err))
}

// statusToolDef is StatusTool's definition, with description.
func statusToolDef(description string) map[string]any {
	return map[string]any{"annotations": map[string]any{}, "description": description, "inputSchema": json.RawMessage(`{"type":"object"}`), "name": StatusTool}
}
