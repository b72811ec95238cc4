package mcphttp

import (
	"encoding/json"
	"strings"
)

// toolFilter hides the tools an administrator or user named in
// RELAY_IGNORE_TOOLS (mcp-remote's --ignore-tool): they are left out of
// tools/list results, and a tools/call of one is refused without reaching
// the server. A pattern matches a whole tool name, ignoring case; * matches
// any run of characters (so delete* and *account, as in mcp-remote).
type toolFilter []string

// newToolFilter lower-cases the patterns once; empty ones are dropped.
func newToolFilter(patterns []string) toolFilter {
	var f toolFilter
	for _, p := range patterns {
		if p = strings.TrimSpace(p); p != "" {
			f = append(f, strings.ToLower(p))
		}
	}
	return f
}

// hides reports whether the tool called name is filtered out.
func (f toolFilter) hides(name string) bool {
	if len(f) == 0 {
		return false
	}
	name = strings.ToLower(name)
	for _, p := range f {
		if globMatch(p, name) {
			return true
		}
	}
	return false
}

// globMatch matches s against pattern, where * is any run of characters
// and everything else is literal. Linear in len(pattern)+len(s) per star
// segment (greedy with backtracking to the last star), so a hostile tool
// name cannot make it slow.
func globMatch(pattern, s string) bool {
	px, sx := 0, 0
	star, mark := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pattern) && pattern[px] == '*':
			star, mark = px, sx
			px++
		case px < len(pattern) && pattern[px] == s[sx]:
			px++
			sx++
		case star >= 0:
			px, mark = star+1, mark+1
			sx = mark
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// filterTools removes the hidden tools from a tools/list result, keeping
// every other field as the server sent it.
func (f toolFilter) filterTools(result json.RawMessage) json.RawMessage {
	if len(f) == 0 {
		return result
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(result, &fields) != nil || fields == nil {
		return result
	}
	var tools []json.RawMessage
	if json.Unmarshal(fields["tools"], &tools) != nil {
		return result
	}
	kept := tools[:0]
	for _, t := range tools {
		// A tool without a readable name is dropped: fail closed.
		if name, ok := exactName(t); !ok || f.hides(name) {
			continue
		}
		kept = append(kept, t)
	}
	if len(kept) == len(tools) {
		return result
	}
	if kept == nil {
		kept = []json.RawMessage{}
	}
	fields["tools"], _ = json.Marshal(kept)
	out, err := json.Marshal(fields)
	if err != nil {
		return result
	}
	return out
}

// exactName reads the member "name" of a JSON object exactly as a
// JavaScript client does (exact key, the last one if repeated), not with
// encoding/json's case-insensitive field matching, so that "NAME" cannot
// stand in for "name" on one side only.
func exactName(obj json.RawMessage) (string, bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(obj, &fields) != nil {
		return "", false
	}
	var name string
	if json.Unmarshal(fields["name"], &name) != nil {
		return "", false
	}
	return name, true
}
