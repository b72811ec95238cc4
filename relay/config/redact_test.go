package config

import (
	"strings"
	"testing"
)

// TestRedactURL (F4): a configured URL is printed with its scheme, host
// and path only; userinfo, query and fragment become ***.
func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://api.example.com/mcp", "https://api.example.com/mcp"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://[::1]:8080/x", "http://[::1]:8080/x"},
		{"http://user:PassW0rdX@example.com/?api_key=K3yVal", "http://***@example.com/?***"},
		{"https://mcp.example.com/mcp?api_key=K3yVal", "https://mcp.example.com/mcp?***"},
		{"https://tok@host/p#frag", "https://***@host/p#***"},
		{"https://login.example.com/#K3yVal", "https://login.example.com/#***"},
		{"https://host:8443/mcp?email=a@b.example", "https://host:8443/mcp?***"},
		{"https://user:pa/ss@host/mcp", "https://***@host/mcp"},           // unescaped '/' in the password
		{"https://user:1234/ab@host/mcp?k=v", "https://***@host/mcp?***"}, // looks like host:port/path
		{"https://user:p?ss@host/mcp", "https://***"},                     // unescaped '?': cannot tell
		{"https://user:p#ss@host/mcp", "https://***"},
		{"https://host/@scope/pkg", "https://***@scope/pkg"}, // hides too much, never too little
		{"user:pass@host/path", "***@host/path"},             // no scheme
		{"api://1234-abcd", "api://1234-abcd"},
		{"urn:example:resource?secret", "urn:example:resource?***"},
		{"not a url", "not a url"},
		{"", ""},
	} {
		if got := RedactURL(c.in); got != c.want {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzRedactURL: whatever the user, host and path, neither a password nor
// a query value is ever printed. The user may not hold '/', '?' or '#'
// (then the URL names another host: nothing can tell the parts apart).
func FuzzRedactURL(f *testing.F) {
	f.Add("user", "", "example.com", "/", "api_key=")
	f.Add("u", "/x@y?z#w", "host:443", "/mcp@x", "a=b@c#d")
	f.Add("", "1234", "[::1]:8080", "", "")
	f.Add("a@b", "?", "h@st", "/p?", "@")
	f.Fuzz(func(t *testing.T, user, pass, host, path, query string) {
		const pw, qv = "Pw7x", "Qk9z"
		if strings.ContainsAny(user, "/?#") || strings.Contains(user+host+path, pw) || strings.Contains(user+host+path, qv) {
			t.Skip()
		}
		for _, raw := range []string{
			"https://" + user + ":" + pw + pass + "@" + host + path + "?" + qv + query,
			"https://" + user + ":" + pw + pass + "@" + host + path,
			"https://" + host + path + "?" + qv + query,
			"https://" + host + path + "#" + qv + query,
			user + ":" + pw + pass + "@" + host + path,
		} {
			if got := RedactURL(raw); strings.Contains(got, pw) || strings.Contains(got, qv) {
				t.Fatalf("RedactURL(%q) = %q shows a secret", raw, got)
			}
		}
	})
}
