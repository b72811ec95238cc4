package config

import (
	"strings"
	"testing"
)

// FuzzParseHeaders: RELAY_HEADERS and --header never panic the parser; what
// it accepts is a valid header name the relay does not own, and a value with
// no line break or control character (no header injection); an error never
// holds a value that came from the environment (values are secrets).
func FuzzParseHeaders(f *testing.F) {
	f.Add("X-Api-Key: ${KEY}", "X-B: two", "s3cret-value")
	f.Add("X-A: 1\n\nx-b:2", "", "v")
	f.Add("Authorization: Bearer ${KEY}", "", "tok-123456")
	f.Add("X-A: ${KEY", "mcp-param-x: 1", "abc")
	f.Add("X-A: a${KEY}b${KEY}", "X-C: ${1X}", "line\r\nX-Evil: 1")
	f.Fuzz(func(t *testing.T, env, flag, value string) {
		secretValue := "sv-" + value
		getenv := func(string) string { return secretValue }
		hs, err := ParseHeaders(env, []string{flag}, getenv)
		if err != nil {
			if strings.Contains(err.Error(), secretValue) && !strings.Contains(env+flag, secretValue) {
				t.Fatalf("the error holds an environment value: %v", err)
			}
			return
		}
		for _, h := range hs {
			if !isToken(h.Name) || refusedHeaders[h.Name] || strings.HasPrefix(h.Name, "Mcp-") {
				t.Fatalf("accepted header name %q", h.Name)
			}
			v := h.Value.Reveal()
			for i := 0; i < len(v); i++ {
				if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
					t.Fatalf("header %s: value holds byte %#x", h.Name, c)
				}
			}
		}
	})
}
