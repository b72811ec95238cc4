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
	"backend":        {"backend/", "internal/"},
	"relay":          {"relay", "vault", "platform", "internal/"},
	"demo":           {"internal/"},
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
	for _, c := range [][2]string{{"backend", "vault"}, {"backend/tool", "relay"}, {"platform", "internal/secret"}, {"vault", "backend/tool"}, {"internal/secret", "vault"},
		{"relay", "internal/testkit"}, {"backend", "internal/testkit/chain"}, {"internal/fakebrowser", "internal/testkit"}, {"internal/testkit", "relay"}, {"internal/testkit/chain", "vault"}} {
		if permitted(c[0], c[1]) {
			t.Errorf("%s -> %s should be forbidden", c[0], c[1])
		}
	}
	for _, c := range [][2]string{{"relay", "vault"}, {"vault", "platform"}, {"backend", "backend/authserver"}, {"backend/authserver", "internal/secret"},
		{"internal/testkit/chain", "backend/authserver"}, {"internal/testkit/chain", "internal/testkit"}, {"internal/testkit/faultfs", "internal/testkit"}} {
		if !permitted(c[0], c[1]) {
			t.Errorf("%s -> %s should be allowed", c[0], c[1])
		}
	}
}
