package helptext

import (
	"bytes"
	"strings"
	"testing"
)

// TestItemWrapsAt80: a long text wraps into lines of at most 80 columns,
// each indented by 8 spaces, with every word kept in order.
func TestItemWrapsAt80(t *testing.T) {
	text := strings.Repeat("word ", 40) + strings.Repeat("x", 90)
	var b bytes.Buffer
	Item(&b, "--flag, VAR", text)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if lines[0] != "  --flag, VAR" || len(lines) < 4 {
		t.Fatalf("got:\n%s", b.String())
	}
	var words []string
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, indent) || strings.HasPrefix(l, indent+" ") {
			t.Errorf("line not indented by 8: %q", l)
		}
		if len(l) > 80 && strings.Contains(strings.TrimSpace(l), " ") {
			t.Errorf("line of %d columns: %q", len(l), l)
		}
		words = append(words, strings.Fields(l)...)
	}
	if strings.Join(words, " ") != strings.TrimSpace(text) {
		t.Errorf("words changed:\n%s", b.String())
	}
}
