package proxy

import (
	"os/exec"
	"strings"
	"testing"
)

// The proxy must not link mcp-go's server (its JSON Schema dependency
// costs the relay's start-up 12–15 ms of package init) nor its client
// (client/transport imports the server). mcp-go/mcp, for types, is fine.
func TestNoMCPServerDependency(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.Contains(pkg, "mcp-go/server") || strings.Contains(pkg, "mcp-go/client") || strings.Contains(pkg, "santhosh-tekuri/jsonschema") {
			t.Errorf("relay/proxy depends on %s", pkg)
		}
	}
}
