package transport

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/keyrelay/keyrelay/internal/lines"
	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/authhttp"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/front"
)

// oneToken is a Tokens that always has "tok-1", and caches none.
type oneToken struct{}

func (oneToken) Token(context.Context, broker.UI) (secret.Value, error) {
	return secret.New("tok-1"), nil
}
func (oneToken) Unauthorized(context.Context, secret.Value, broker.UI) (secret.Value, error) {
	return secret.New("tok-1"), nil
}
func (oneToken) StepUp(context.Context, secret.Value, []string, broker.UI) (secret.Value, error) {
	return secret.New("tok-1"), nil
}
func (oneToken) NotGranted([]string)                               {}
func (oneToken) CachedToken(context.Context) (secret.Value, error) { return secret.Value{}, nil } // none cached

// newGuard is the relay's stack towards an MCP server at <srv>/mcp: the
// guard, the auth layer, the custom headers.
func newGuard(t *testing.T, h http.HandlerFunc) (*Guard, string) {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	target, _ := url.Parse(srv.URL + "/mcp")
	auth := &authhttp.Transport{Tokens: oneToken{}, Base: &Headers{Base: http.DefaultTransport,
		List: []Header{{Name: "X-Api-Key", Value: secret.New("fake-key")}}}}
	return &Guard{Next: auth, Target: target}, srv.URL + "/mcp"
}

func post(t *testing.T, g *Guard, u string) (*http.Response, error) {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"x"}`))
	return (&http.Client{Transport: g}).Do(req)
}

// Credentials go to the MCP URL only: not another path, host or scheme,
// and never after a redirect.
func TestGuardOnlyMCPURL(t *testing.T) {
	var mu sync.Mutex
	var got []string
	g, u := newGuard(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.Path+" "+r.Header.Get("Authorization")+" "+r.Header.Get("X-Api-Key"))
		mu.Unlock()
		if r.URL.Path == "/mcp" {
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		}
	})
	for _, other := range []string{strings.Replace(u, "/mcp", "/other", 1), strings.Replace(u, "http://", "https://", 1),
		strings.Replace(u, "127.0.0.1", "localhost", 1), strings.Replace(u, "http://", "http://user@", 1)} {
		if _, err := post(t, g, other); !errors.Is(err, ErrOtherURL) {
			t.Errorf("%s: %v", other, err)
		}
	}
	c := &http.Client{Transport: g, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("{}"))
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("redirect: %v", err)
	}
	resp.Body.Close()
	if len(got) != 1 || got[0] != "/mcp Bearer tok-1 fake-key" {
		t.Fatalf("requests: %q", got)
	}
}

// Once an endpoint is accepted, credentials go to it exactly: not to a
// path below it, a sibling, or another query.
func TestGuardLegacyEndpoint(t *testing.T) {
	var mu sync.Mutex
	var got []string
	g, u := newGuard(t, func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.RequestURI()+" "+r.Header.Get("Authorization")+" "+r.Header.Get("X-Api-Key"))
		mu.Unlock()
	})
	ep := strings.Replace(u, "/mcp", "/message?sessionId=1", 1)
	if _, err := post(t, g, ep); !errors.Is(err, ErrOtherURL) {
		t.Fatalf("before it is accepted: %v", err)
	}
	e, _ := url.Parse(ep)
	g.AllowEndpoint(e)
	if resp, err := post(t, g, ep); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	for _, other := range []string{
		strings.Replace(ep, "/message", "/message/more", 1),
		strings.Replace(ep, "/message", "/messages", 1),
		strings.Replace(ep, "/message", "/mess", 1),
		strings.Replace(ep, "sessionId=1", "sessionId=2", 1),
		strings.Replace(ep, "?sessionId=1", "", 1),
		strings.Replace(ep, "http://", "http://user@", 1),
	} {
		if _, err := post(t, g, other); !errors.Is(err, ErrOtherURL) {
			t.Errorf("%s: %v", other, err)
		}
	}
	if len(got) != 1 || got[0] != "/message?sessionId=1 Bearer tok-1 fake-key" {
		t.Fatalf("requests: %q", got)
	}
}

func TestLimitBody(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		left int64
		ok   bool
	}{
		{"ab\ncd\n", 4, -1, true},
		{strings.Repeat("x", 5) + "\n", 4, -1, false},
		{strings.Repeat("ab\n", 10), 4, 12, false},
		{strings.Repeat("ab\n", 4), 4, 12, true},
	}
	for _, c := range cases {
		rc := io.NopCloser(iotest.OneByteReader(strings.NewReader(c.in)))
		l := &limitBody{rc: rc, r: lines.Limit(rc, c.max, front.ErrMessageTooLarge), left: c.left}
		_, err := io.ReadAll(l)
		if c.ok != (err == nil) || (!c.ok && !errors.Is(err, front.ErrMessageTooLarge)) {
			t.Errorf("%q max %d left %d: %v", c.in, c.max, c.left, err)
		}
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// FuzzMessageEndpoint: whatever a legacy SSE server names as its message
// endpoint, an accepted one is on the MCP URL's origin (scheme, host,
// port), with no userinfo and no fragment; nothing panics.
func FuzzMessageEndpoint(f *testing.F) {
	for _, s := range []string{"/message?sessionId=abc", "message", "http://127.0.0.1:8080/m", "//evil.example/x", `\\evil\x`,
		"http://127.0.0.1:8080@evil.example/m", "HTTP://127.0.0.1:8080/m#x", "http:m", "/%2e%2e/x", "http://[::1]:8080/m"} {
		f.Add(s)
	}
	target, _ := url.Parse("http://127.0.0.1:8080/v1/sse")
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := messageEndpoint(target, raw)
		if err != nil {
			if !errors.Is(err, ErrBadEndpoint) || u != nil {
				t.Fatalf("%q: %v %v", raw, u, err)
			}
			return
		}
		if u.Scheme != "http" || u.Host != "127.0.0.1:8080" || u.User != nil || u.Fragment != "" || u.RawFragment != "" {
			t.Fatalf("%q accepted as %s", raw, u)
		}
		if !isEndpoint(u, u) {
			t.Fatalf("%q: the accepted endpoint %s is not itself", raw, u)
		}
	})
}
