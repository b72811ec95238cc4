package mcp

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// schemaProperty is the part of a JSON Schema that x-mcp-header rules read.
// Type stays raw: it may be a name or a list of names.
type schemaProperty struct {
	Type       json.RawMessage           `json:"type"`
	XMCPHeader json.RawMessage           `json:"x-mcp-header,omitempty"`
	Properties map[string]schemaProperty `json:"properties,omitempty"`
}

// ParamHeader is one tool argument that a 2026-07-28 client also sends as
// an Mcp-Param-<Header> header (SEP-2243): its path in the arguments
// object, and the header's name.
type ParamHeader struct {
	Path   []string
	Header string
}

// ParamHeaders reads every x-mcp-header annotation in a tool's input
// schema, at any depth, and checks it: only on primitive types (string,
// integer, boolean), a non-empty HTTP token, unique regardless of case. A
// server must refuse a tool that breaks these rules, and a client sends
// no header for it. A schema that cannot be read at all has none, as in
// mcp-go.
func ParamHeaders(inputSchema json.RawMessage) ([]ParamHeader, error) {
	var s schemaProperty
	if len(inputSchema) == 0 || json.Unmarshal(inputSchema, &s) != nil || len(s.Properties) == 0 {
		return nil, nil
	}
	return collect(s.Properties, nil, map[string]bool{}, nil)
}

// ValidateHeaders checks a tool's x-mcp-header annotations (ParamHeaders).
func ValidateHeaders(inputSchema json.RawMessage) error {
	_, err := ParamHeaders(inputSchema)
	return err
}

func collect(props map[string]schemaProperty, prefix []string, seen map[string]bool, out []ParamHeader) ([]ParamHeader, error) {
	for _, name := range sortedNames(props) {
		prop := props[name]
		path := append(slices.Clip(prefix), name)
		if prop.XMCPHeader != nil {
			header, err := checkHeader(prop, strings.Join(path, "."), seen)
			if err != nil {
				return nil, err
			}
			out = append(out, ParamHeader{Path: path, Header: header})
		}
		var err error
		if out, err = collect(prop.Properties, path, seen, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sortedNames makes the walk, and so the first error reported, the same on
// every run.
func sortedNames(props map[string]schemaProperty) []string {
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func checkHeader(prop schemaProperty, path string, seen map[string]bool) (string, error) {
	if !prop.primitive() {
		return "", fmt.Errorf("property %q: x-mcp-header can only be applied to primitive types (integer, string, boolean), got %s", path, prop.describeType())
	}
	var header string
	if err := json.Unmarshal(prop.XMCPHeader, &header); err != nil || header == "" {
		return "", fmt.Errorf("property %q: x-mcp-header must be a non-empty string", path)
	}
	for _, c := range header {
		if !isTChar(c) {
			return "", fmt.Errorf("property %q: x-mcp-header value %q contains invalid character %q", path, header, c)
		}
	}
	lower := strings.ToLower(header)
	if seen[lower] {
		return "", fmt.Errorf("property %q: duplicate x-mcp-header value %q (case-insensitive)", path, header)
	}
	seen[lower] = true
	return header, nil
}

func (p schemaProperty) typeNames() []string {
	if len(p.Type) == 0 {
		return nil
	}
	var one string
	if json.Unmarshal(p.Type, &one) == nil {
		return []string{one}
	}
	var many []string
	if json.Unmarshal(p.Type, &many) == nil {
		return many
	}
	return nil
}

// primitive reports whether every declared type may carry a header; a
// property without a type may not.
func (p schemaProperty) primitive() bool {
	names := p.typeNames()
	for _, n := range names {
		if n != "string" && n != "integer" && n != "boolean" {
			return false
		}
	}
	return len(names) > 0
}

func (p schemaProperty) describeType() string {
	names := p.typeNames()
	switch {
	case len(names) == 0 && len(p.Type) == 0:
		return "no declared type"
	case len(names) == 0:
		return string(p.Type)
	case len(names) == 1:
		return strconv.Quote(names[0])
	}
	return "[" + strings.Join(names, ", ") + "]"
}

// isTChar reports whether c may appear in an HTTP token (RFC 9110 tchar).
func isTChar(c rune) bool {
	switch {
	case c >= '0' && c <= '9', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		return true
	}
	return strings.ContainsRune("!#$%&'*+-.^_`|~", c)
}
