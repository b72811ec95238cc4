package mcphttp

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestToolFilterHides(t *testing.T) {
	f := newToolFilter([]string{"delete*", "*Account", "exactTool", " ", "a*b*c"})
	cases := map[string]bool{
		"delete": true, "deleteTask": true, "DELETE_user": true, "undelete": false,
		"getAccount": true, "account": true, "accounts": false,
		"exacttool": true, "exactTool2": false,
		"abc": true, "aXbYc": true, "a*b*c": true, "acb": false, "abcX": false,
		"": false, "echo": false,
	}
	for name, want := range cases {
		if got := f.hides(name); got != want {
			t.Errorf("hides(%q) = %v, want %v", name, got, want)
		}
	}
	if newToolFilter(nil).hides("anything") || newToolFilter([]string{""}).hides("") {
		t.Error("an empty filter hides a tool")
	}
}

func TestToolFilterList(t *testing.T) {
	f := newToolFilter([]string{"delete*"})
	in := `{"tools":[{"name":"echo"},{"name":"deleteAll"},{"name":"x","NAME":"deleteAll"},{"name":"deleteMe","name":"safe"},{"title":"no name"},{"name":7}],"nextCursor":"c2"}`
	var got struct {
		Tools      []map[string]any `json:"tools"`
		NextCursor string           `json:"nextCursor"`
	}
	testkit.NoErr(t, json.Unmarshal(f.filterTools(json.RawMessage(in)), &got))
	var names []string
	for _, tool := range got.Tools {
		names = append(names, tool["name"].(string))
	}
	// "x" stays (its exact name is x; NAME is another member, as a
	// JavaScript client reads it); the duplicate-name tool reads as "safe",
	// its last name, as JSON.parse does; tools without a string name go.
	if strings.Join(names, ",") != "echo,x,safe" || got.NextCursor != "c2" {
		t.Fatalf("filtered to %v, cursor %q", names, got.NextCursor)
	}
	all := `{"tools":[{"name":"deleteA"}]}`
	if out := string(f.filterTools(json.RawMessage(all))); out != `{"tools":[]}` {
		t.Fatalf("all filtered: %s", out)
	}
	if out := string(newToolFilter(nil).filterTools(json.RawMessage(in))); out != in {
		t.Fatal("no filter changed the result")
	}
}

// FuzzGlobMatch checks globMatch against a regular expression built the
// way mcp-remote builds its own (each * becomes .*, the rest literal).
func FuzzGlobMatch(f *testing.F) {
	f.Add("delete*", "deleteTask")
	f.Add("*a*b*", "xxaxxbxx")
	f.Add("a**b", "ab")
	f.Add("*", "")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		parts := strings.Split(pattern, "*")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		re, err := regexp.Compile("(?s)^" + strings.Join(parts, ".*") + "$")
		if err != nil {
			t.Skip()
		}
		if got, want := globMatch(pattern, s), re.MatchString(s); got != want {
			t.Fatalf("globMatch(%q, %q) = %v, regexp says %v", pattern, s, got, want)
		}
	})
}
