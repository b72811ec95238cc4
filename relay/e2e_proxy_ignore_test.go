package main

import (
	"context"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

// RELAY_IGNORE_TOOLS (mcp-remote's --ignore-tool): the tools named by the
// patterns are missing from tools/list, and a call of one is refused by the
// relay without reaching the server; the other tools work. Both eras.
func TestProxy_IgnoreTools(t *testing.T) {
	_, ep, e := mcpEnv(t, "")
	for _, modern := range []bool{false, true} {
		s := e.startEra(modern, "RELAY_IGNORE_TOOLS=ASK, add_*")
		ctx := ctx30(t)
		tools, err := s.Client.ListTools(ctx, mcp.ListToolsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tool := range tools.Tools {
			names = append(names, tool.Name)
		}
		list := strings.Join(names, ",")
		if strings.Contains(","+list+",", ",ask,") || strings.Contains(list, "add_tool") || !strings.Contains(list, "whoami") {
			t.Fatalf("modern=%v: tools listed: %s", modern, list)
		}
		req := mcp.CallToolRequest{}
		req.Params.Name = "ask"
		if _, err := s.Client.CallTool(context.Background(), req); err == nil || !strings.Contains(err.Error(), "RELAY_IGNORE_TOOLS") {
			t.Fatalf("modern=%v: a call of an ignored tool: %v", modern, err)
		}
		s.whoami(t)
	}
	if n := ep.count("tools/call ask"); n != 0 {
		t.Fatalf("the server got %d calls of an ignored tool", n)
	}
}
