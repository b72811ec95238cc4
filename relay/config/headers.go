package config

import (
	"fmt"
	"net/textproto"
	"strings"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/platform"
)

// Header is one custom header sent to the MCP server (RELAY_HEADERS,
// --header). Its value is a secret: it prints as REDACTED.
type Header struct {
	Name  string // canonical form
	Value secret.Value
}

// refusedHeaders are headers the relay owns: the token, the session and
// protocol headers, and hop-by-hop headers. Every Mcp-* header is refused
// too (parseHeader): 2026-07-28 adds Mcp-Method, Mcp-Name and Mcp-Param-*,
// which the relay sets from each request.
var refusedHeaders = map[string]bool{
	"Authorization": true, "Proxy-Authorization": true, "Host": true, "Cookie": true,
	"Mcp-Session-Id": true, "Mcp-Protocol-Version": true, "Last-Event-Id": true,
	"Content-Type": true, "Content-Length": true, "Accept": true,
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Connection": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

// headerList is the repeatable --header flag.
type headerList []string

func (h *headerList) String() string     { return fmt.Sprintf("%d headers", len(*h)) }
func (h *headerList) Set(v string) error { *h = append(*h, v); return nil }

// ParseHeaders reads "Name: value" entries: the lines of RELAY_HEADERS, then
// each --header flag. In a value, ${VAR} is replaced by the environment
// variable VAR (which must be set). Errors name the entry and never hold a
// value.
func ParseHeaders(env string, flags []string, getenv func(string) string) ([]Header, error) {
	var out []Header
	entries := append(strings.Split(env, "\n"), flags...)
	for i, e := range entries {
		if strings.TrimSpace(e) == "" {
			continue
		}
		h, err := parseHeader(e, getenv)
		if err != nil {
			return nil, fmt.Errorf("RELAY_HEADERS entry %d: %w", i+1, err)
		}
		out = append(out, h)
	}
	return out, nil
}

// maxHeaderFile caps RELAY_HEADERS_FILE.
const maxHeaderFile = 64 << 10

// ParseHeaderFile reads RELAY_HEADERS_FILE (mcp-remote's --header-file):
// one "Name: value" per line as in RELAY_HEADERS, blank lines and lines
// starting with # skipped. The file holds secrets, so it is read as the
// vault's key files are: a regular file of the user's own, not a symlink,
// readable by no one else (platform.ReadSecretFile). Errors name the line
// and never hold a value.
func ParseHeaderFile(path string, getenv func(string) string) ([]Header, error) {
	b, err := platform.ReadSecretFile(path, maxHeaderFile)
	if err != nil {
		return nil, fmt.Errorf("RELAY_HEADERS_FILE: %w", err)
	}
	var out []Header
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		h, err := parseHeader(line, getenv)
		if err != nil {
			return nil, fmt.Errorf("RELAY_HEADERS_FILE line %d: %w", i+1, err)
		}
		out = append(out, h)
	}
	return out, nil
}

func parseHeader(entry string, getenv func(string) string) (Header, error) {
	name, val, ok := strings.Cut(entry, ":")
	name = strings.TrimSpace(name)
	if !ok || !isToken(name) {
		return Header{}, fmt.Errorf("want Name: value")
	}
	canon := textproto.CanonicalMIMEHeaderKey(name)
	if refusedHeaders[canon] || strings.HasPrefix(canon, "Mcp-") {
		return Header{}, fmt.Errorf("header %s is set by keyrelay itself and cannot be configured", canon)
	}
	v, err := expand(strings.TrimSpace(val), getenv)
	if err != nil {
		return Header{}, fmt.Errorf("header %s: %w", canon, err)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' || c == 0 || (c < ' ' && c != '\t') || c == 0x7f {
			return Header{}, fmt.Errorf("header %s: the value holds a control character at byte %d", canon, i)
		}
	}
	return Header{Name: canon, Value: secret.New(v)}, nil
}

// expand replaces ${VAR} with getenv(VAR). A lone $ stays as is.
func expand(s string, getenv func(string) string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unclosed ${ at byte %d", i)
		}
		name := s[i+2 : i+j]
		if !isVarName(name) {
			return "", fmt.Errorf("bad variable name at byte %d", i)
		}
		v := getenv(name)
		if v == "" {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+j+1:]
	}
}

func isVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// isToken reports whether s is an RFC 9110 token (a header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
