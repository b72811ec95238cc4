package proxy

import (
	"os/exec"
	"strings"
	"testing"
)

// The relay binary, proxy included, links no mcp-go: its mcp package's
// dependencies (a JSON Schema library compiling regular expressions in
// init, html/template) cost the relay's cold start more than the rest of
// its package initialisation, and its server package more still. The
// protocol constants the relay needs are in internal/mcp.
func TestNoMCPGoDependency(t *testing.T) {
	for _, pkg := range []string{".", "github.com/keyrelay/keyrelay/relay"} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.Contains(dep, "mark3labs/mcp-go") || strings.Contains(dep, "jsonschema") || dep == "html/template" {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}
