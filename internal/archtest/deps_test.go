package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/keyrelay/keyrelay/"

// testOnly is the test kit: no package outside it may import it.
const testOnly = "internal/testkit"

// allowed maps a package prefix to the prefixes of ours it may import
// (non-test code). A package not listed here may import nothing of ours
// beyond internal/secret. Test support (testOnly) is importable only from
// itself: tests import it, product code never.
var allowed = map[string][]string{
	"platform":       {},
	"internal/":      {"internal/"},
	"vault":          {"platform", "internal/"},
	"backend/bearer": {"internal/"},
	"backend/tool":   {"backend/bearer", "internal/"},
	// The backend's main (JWT_SECRET_FILE) and its authorization server
	// (AUTH_SIGNING_KEY) read signing secrets with platform's secure-file
	// checks, the ones the relay applies to its key files: one
	// implementation of the owner, mode and symlink checks rather than a
	// copy that drifts. platform is a leaf that imports nothing of ours.
	// The libraries users import (bearer, tool) and the example tools
	// may not use it.
	"backend":            {"backend/", "internal/", "platform"},
	"backend/authserver": {"internal/", "platform"},
	"backend/example":    {"backend/tool", "internal/"},
	"relay":              {"relay", "vault", "platform", "internal/"},
	// Inside the relay, the picture is one-way (ARCHITECTURE.md): main
	// wires; the front speaks MCP and knows no upstream; the upstreams
	// reach tokens only through the auth layer, never the configuration,
	// the sign-in or the vault; the auth layer asks the broker.
	"relay/front":             {"internal/", "relay/signin"},
	"relay/signin":            {"internal/"},
	"relay/toolapi":           {"internal/", "relay/front", "relay/authhttp", "relay/oauth"},
	"relay/mcphttp":           {"internal/", "relay/front", "relay/authhttp", "relay/mcphttp/transport"},
	"relay/mcphttp/transport": {"internal/", "relay/front", "relay/authhttp"},
	"relay/authhttp":          {"internal/", "relay/broker", "relay/oauth", "relay/signin"},
	"relay/broker":            {"internal/", "relay/oauth", "vault"},
	"relay/oauth":             {"internal/"},
	"relay/policy":            {"internal/"},
	"relay/login":             {"internal/", "relay/broker", "relay/oauth", "relay/policy", "relay/signin", "vault"},
	"relay/config":            {"internal/", "platform", "relay/oauth", "relay/policy"},
	"relay/status":            {"internal/", "relay/broker", "vault"},
	"demo":                    {"internal/"},
	// The bench signs DPoP proofs for its throughput load as the relay does.
	"bench": {"internal/dpop", "internal/secret"},
	// The chain runs the built-in authorization server and the example
	// backend; the rest of the kit imports nothing of ours, so the tests of
	// vault and of backend's packages can use it.
	"internal/testkit": {"internal/", "backend/"},
}

func rule(pkg string) []string {
	best := ""
	for p := range allowed {
		if (pkg == p || strings.HasPrefix(pkg, p)) && len(p) > len(best) {
			best = p
		}
	}
	if best == "" {
		return []string{"internal/secret"}
	}
	return allowed[best]
}

func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], mod)
		n++
		for _, imp := range f[1:] {
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			dep := strings.TrimPrefix(imp, mod)
			if !permitted(pkg, dep) {
				t.Errorf("%s imports %s, which the layering forbids", pkg, dep)
			}
		}
	}
	if n < 5 {
		t.Fatalf("go list saw only %d packages", n)
	}
}

func permitted(pkg, dep string) bool {
	if strings.HasPrefix(dep, testOnly) && !strings.HasPrefix(pkg, testOnly) {
		return false
	}
	for _, p := range rule(pkg) {
		if dep == p || strings.HasPrefix(dep, p) {
			return true
		}
	}
	return false
}

func TestRulesCatchViolations(t *testing.T) {
	for _, c := range [][2]string{{"backend", "vault"}, {"backend/tool", "relay"}, {"backend/bearer", "platform"}, {"backend/tool", "platform"}, {"backend/example", "platform"}, {"backend/authserver", "vault"}, {"platform", "internal/secret"}, {"vault", "backend/tool"}, {"internal/secret", "vault"},
		{"relay/front", "relay/toolapi"}, {"relay/front", "relay/authhttp"}, {"relay/toolapi", "relay/config"}, {"relay/toolapi", "relay/mcphttp"},
		{"relay/mcphttp", "vault"}, {"relay/mcphttp", "relay/login"}, {"relay/mcphttp", "relay/toolapi"}, {"relay/mcphttp/transport", "relay/mcphttp"},
		{"relay/authhttp", "relay/front"}, {"relay/broker", "relay/login"},
		{"relay", "internal/testkit"}, {"backend", "internal/testkit/chain"}, {"internal/fakebrowser", "internal/testkit"}, {"internal/testkit", "relay"}, {"internal/testkit/chain", "vault"}} {
		if permitted(c[0], c[1]) {
			t.Errorf("%s -> %s should be forbidden", c[0], c[1])
		}
	}
	for _, c := range [][2]string{{"relay", "vault"}, {"vault", "platform"}, {"backend", "backend/authserver"}, {"backend", "platform"}, {"backend/authserver", "platform"}, {"backend/authserver", "internal/secret"},
		{"relay", "relay/front"}, {"relay/toolapi", "relay/front"}, {"relay/mcphttp", "relay/mcphttp/transport"}, {"relay/authhttp", "relay/broker"},
		{"internal/testkit/chain", "backend/authserver"}, {"internal/testkit/chain", "internal/testkit"}, {"internal/testkit/faultfs", "internal/testkit"}} {
		if !permitted(c[0], c[1]) {
			t.Errorf("%s -> %s should be allowed", c[0], c[1])
		}
	}
}

// The relay binary links no mcp-go: its mcp package's dependencies (a
// JSON Schema library compiling regular expressions in init,
// html/template) cost the relay's cold start more than the rest of its
// package initialisation, and its server package more still. The protocol
// names the relay needs are in internal/mcp.
func TestRelayLinksNoMCPGo(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", mod+"relay").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list saw only %d dependencies", len(deps))
	}
	for _, dep := range deps {
		if strings.Contains(dep, "mark3labs/mcp-go") || strings.Contains(dep, "jsonschema") || dep == "html/template" {
			t.Errorf("the relay depends on %s", dep)
		}
	}
}
