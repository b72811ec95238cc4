package config

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestParseHeaders(t *testing.T) {
	env := map[string]string{"KEY": "fake-key-123", "EMPTY": ""}
	getenv := func(k string) string { return env[k] }
	cases := []struct {
		name    string
		env     string
		flags   []string
		want    string // "Name=value;..." or the error's substring
		wantErr bool
	}{
		{"one line", "X-Api-Key: abc", nil, "X-Api-Key=abc", false},
		{"lines and flags", "X-A: 1\n\nx-b:2", []string{"X-C: three words"}, "X-A=1;X-B=2;X-C=three words", false},
		{"expansion", "X-Api-Key: Token ${KEY}!", nil, "X-Api-Key=Token fake-key-123!", false},
		{"lone dollar stays", "X-P: a$b", nil, "X-P=a$b", false},
		{"unset variable", "X-Api-Key: ${NOPE}", nil, "NOPE is not set", true},
		{"empty variable", "X-Api-Key: ${EMPTY}", nil, "EMPTY is not set", true},
		{"unclosed", "X-Api-Key: ${KEY", nil, "unclosed", true},
		{"bad variable name", "X-Api-Key: ${1X}", nil, "bad variable name", true},
		{"no colon", "X-Api-Key abc", nil, "want Name: value", true},
		{"bad name", "X Api: abc", nil, "want Name: value", true},
		{"authorization refused", "authorization: Bearer x", nil, "Authorization is set by keyrelay", true},
		{"session refused", "", []string{"Mcp-Session-Id: x"}, "Mcp-Session-Id is set by keyrelay", true},
		{"2026-07-28 method header refused", "mcp-method: tools/call", nil, "Mcp-Method is set by keyrelay", true},
		{"2026-07-28 param header refused", "Mcp-Param-Region: eu", nil, "Mcp-Param-Region is set by keyrelay", true},
		{"hop-by-hop refused", "Connection: close", nil, "Connection is set", true},
		{"cookie refused", "Cookie: a=b", nil, "Cookie is set", true},
		{"host refused", "Host: evil", nil, "Host is set", true},
		{"control character", "X-A: a\x01b", nil, "control character at byte 1", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hs, err := ParseHeaders(c.env, c.flags, getenv)
			if c.wantErr {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("err %v, want %q", err, c.want)
				}
				if strings.Contains(err.Error(), "fake-key-123") || strings.Contains(err.Error(), "Bearer x") {
					t.Fatal("a header value leaked into the error")
				}
				return
			}
			testkit.NoErr(t, err)
			var got []string
			for _, h := range hs {
				got = append(got, h.Name+"="+h.Value.Reveal())
				if s := fmt.Sprint(h); strings.Contains(s, h.Value.Reveal()) {
					t.Fatalf("a header prints its value: %s", s)
				}
			}
			if strings.Join(got, ";") != c.want {
				t.Fatalf("got %q, want %q", strings.Join(got, ";"), c.want)
			}
		})
	}
}

func TestCheckServerURL(t *testing.T) {
	cases := []struct {
		env     map[string]string
		args    []string
		wantErr string
		server  string
	}{
		{map[string]string{"RELAY_MCP_URL": "https://Example.com/mcp/"}, nil, "", "https://example.com/mcp"},
		{nil, []string{"--mcp-url", "http://127.0.0.1:9/mcp"}, "", "http://127.0.0.1:9/mcp"},
		{map[string]string{"RELAY_MCP_URL": "http://example.com/mcp"}, nil, "https", ""},
		{map[string]string{"RELAY_MCP_URL": "https://a/mcp", "RELAY_BACKEND_URL": "https://b"}, nil, "not both", ""},
		{map[string]string{"RELAY_BACKEND_URL": "https://b", "RELAY_HEADERS": "X-A: 1"}, nil, "needs RELAY_MCP_URL", ""},
		{map[string]string{"RELAY_MCP_URL": "https://a/mcp", "RELAY_HEADERS": "Cookie: 1"}, nil, "Cookie", ""},
	}
	for _, c := range cases {
		cfg, _, err := Parse("serve", c.args, func(k string) string { return c.env[k] }, nil)
		testkit.NoErr(t, err)
		err = cfg.Check()
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%v: err %v, want %q", c.env, err, c.wantErr)
			}
			continue
		}
		if err != nil || cfg.Server() != c.server || cfg.Resource != c.server {
			t.Errorf("%v: %v, server %q, resource %q", c.env, err, cfg.Server(), cfg.Resource)
		}
	}
}

func TestParseHeaderFile(t *testing.T) {
	write := func(name, body string, mode os.FileMode) string { return testkit.WriteTemp(t, name, body, mode) }
	getenv := func(k string) string { return map[string]string{"KEY": "fake-key-123"}[k] }
	good := write("good", "# credentials for the example server\r\nX-Api-Key: ${KEY}\r\n\r\n  # indented comment\nX-Team: blue\n", 0o600)
	hs, err := ParseHeaderFile(good, getenv)
	testkit.NoErr(t, err)
	var got []string
	for _, h := range hs {
		got = append(got, h.Name+"="+h.Value.Reveal())
	}
	if strings.Join(got, ";") != "X-Api-Key=fake-key-123;X-Team=blue" {
		t.Fatalf("headers: %v", got)
	}
	// Windows keeps no group or other mode bits, and keyrelay reads no
	// ACLs (platform): a 0644 file is an ordinary one there.
	if _, err := ParseHeaderFile(write("loose", "X-Api-Key: s3cret-in-loose-file\n", 0o644), getenv); err == nil && runtime.GOOS != "windows" {
		t.Fatal("a file others can read was accepted")
	}
	link := filepath.Join(t.TempDir(), "link")
	testkit.NoErr(t, os.Symlink(good, link))
	if _, err := ParseHeaderFile(link, getenv); err == nil {
		t.Fatal("a symlink was accepted")
	}
	_, err = ParseHeaderFile(write("bad", "X-A: 1\nAuthorization: Bearer s3cret-token-value\n", 0o600), getenv)
	if err == nil || !strings.Contains(err.Error(), "line 2") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("a refused header: %v", err)
	}
	big := write("big", strings.Repeat("X-A: 1\n", maxHeaderFile/7+1), 0o600)
	if _, err := ParseHeaderFile(big, getenv); err == nil {
		t.Fatal("an oversized file was accepted")
	}
}
