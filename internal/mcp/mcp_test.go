package mcp

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestNegotiateLegacyVersion(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ProtocolVersion20250326},
		{ProtocolVersion20250618, ProtocolVersion20250618},
		{ProtocolVersion20241105, ProtocolVersion20241105},
		{"1999-01-01", LatestLegacyVersion},
		{ProtocolVersion20260728, LatestLegacyVersion},
		{"2030-01-01", LatestLegacyVersion},
	} {
		if got := NegotiateLegacyVersion(c.in); got != c.want {
			t.Errorf("NegotiateLegacyVersion(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if !IsModernProtocol("2030-01-01") || IsModernProtocol(ProtocolVersion20251125) || IsValidProtocolVersion("2030-01-01") {
		t.Error("IsModernProtocol or IsValidProtocolVersion is wrong")
	}
}

func TestShouldSendTo(t *testing.T) {
	for _, c := range []struct {
		msg, min LoggingLevel
		want     bool
	}{
		{LoggingLevelError, LoggingLevelError, true},
		{LoggingLevelAlert, LoggingLevelWarning, true},
		{LoggingLevelInfo, LoggingLevelWarning, false},
		{"bogus", LoggingLevelDebug, false},
		{LoggingLevelEmergency, "", false},
	} {
		if got := c.msg.ShouldSendTo(c.min); got != c.want {
			t.Errorf("%q.ShouldSendTo(%q) = %v", c.msg, c.min, got)
		}
	}
}

func TestValidateHeaders(t *testing.T) {
	for _, c := range []struct {
		name, schema, err string
	}{
		{"no annotations", `{"type":"object","properties":{"a":{"type":"string"}}}`, ""},
		{"good", `{"type":"object","properties":{"a":{"type":"string","x-mcp-header":"Region"},"b":{"type":["integer","boolean"],"x-mcp-header":"N"}}}`, ""},
		{"nested", `{"type":"object","properties":{"o":{"type":"object","properties":{"a":{"type":"object","x-mcp-header":"X"}}}}}`, `property "o.a": x-mcp-header can only be applied to primitive types (integer, string, boolean), got "object"`},
		{"no type", `{"properties":{"a":{"x-mcp-header":"X"}}}`, "got no declared type"},
		{"empty", `{"properties":{"a":{"type":"string","x-mcp-header":""}}}`, "must be a non-empty string"},
		{"not a string", `{"properties":{"a":{"type":"string","x-mcp-header":5}}}`, "must be a non-empty string"},
		{"bad token", `{"properties":{"a":{"type":"string","x-mcp-header":"a b"}}}`, `contains invalid character ' '`},
		{"duplicate", `{"properties":{"a":{"type":"string","x-mcp-header":"X"},"b":{"type":"string","x-mcp-header":"x"}}}`, "duplicate x-mcp-header"},
		{"unreadable passes", `{"properties":5}`, ""},
		{"empty schema", ``, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := ValidateHeaders(json.RawMessage(c.schema))
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("error %v, want one containing %q", err, c.err)
			}
		})
	}
}
