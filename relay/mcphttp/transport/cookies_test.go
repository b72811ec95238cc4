package transport

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func names(cs []*http.Cookie) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name+"="+c.Value)
	}
	return strings.Join(out, ";")
}

func TestCookieJar(t *testing.T) {
	mcpURL := mustURL(t, "https://mcp.example.com/mcp")
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	j := NewCookieJar(mcpURL)
	j.now = func() time.Time { return now }
	j.SetCookies(mustURL(t, "https://mcp.example.com:443/mcp"), []*http.Cookie{
		{Name: "AWSALB", Value: "node1", Domain: "example.com"},
		{Name: "short", Value: "x", MaxAge: 60},
		{Name: "gone", Value: "x", MaxAge: -1},
		{Name: "past", Value: "x", Expires: now.Add(-time.Hour)},
		{Name: "secure", Value: "s", Secure: true},
		{Name: "big", Value: strings.Repeat("v", maxCookieSize)},
	})
	// Another origin can neither set nor read.
	j.SetCookies(mustURL(t, "https://other.example.com/mcp"), []*http.Cookie{{Name: "evil", Value: "1"}})
	j.SetCookies(mustURL(t, "http://mcp.example.com/mcp"), []*http.Cookie{{Name: "plain", Value: "1"}})
	if got := names(j.Cookies(mustURL(t, "https://mcp.example.com/mcp?x=1"))); got != "AWSALB=node1;short=x;secure=s" {
		t.Fatalf("cookies for the MCP URL: %s", got)
	}
	for _, other := range []string{"https://other.example.com/mcp", "https://example.com/mcp", "https://mcp.example.com:8443/mcp", "http://mcp.example.com/mcp"} {
		if got := j.Cookies(mustURL(t, other)); len(got) != 0 {
			t.Fatalf("cookies for %s: %s", other, names(got))
		}
	}
	// Expiry, replacement and deletion.
	now = now.Add(2 * time.Minute)
	j.SetCookies(mcpURL, []*http.Cookie{{Name: "AWSALB", Value: "node2"}, {Name: "secure", MaxAge: -1}})
	if got := names(j.Cookies(mcpURL)); got != "AWSALB=node2" {
		t.Fatalf("after expiry and replacement: %s", got)
	}
	// Bounded: the oldest go first.
	for i := 0; i < 3*maxCookies; i++ {
		j.SetCookies(mcpURL, []*http.Cookie{{Name: fmt.Sprintf("c%d", i), Value: "v"}})
	}
	got := j.Cookies(mcpURL)
	if len(got) != maxCookies || got[len(got)-1].Name != fmt.Sprintf("c%d", 3*maxCookies-1) {
		t.Fatalf("%d cookies kept, last %s", len(got), got[len(got)-1].Name)
	}
}
