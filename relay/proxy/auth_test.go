package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/keyrelay/keyrelay/internal/lines"
	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/config"
	"github.com/keyrelay/keyrelay/vault"
)

// fakeTokens is an in-memory Tokens: token N is "tok-N"; every call is
// counted.
type fakeTokens struct {
	mu                             sync.Mutex
	n                              int
	tokens, unauth, stepUp, denied int
	scopes                         []string
}

func (f *fakeTokens) next() secret.Value { f.n++; return secret.New("tok-" + string(rune('0'+f.n))) }
func (f *fakeTokens) Token(context.Context, broker.UI) (secret.Value, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens++
	if f.n == 0 {
		return f.next(), nil
	}
	return secret.New("tok-" + string(rune('0'+f.n))), nil
}
func (f *fakeTokens) Unauthorized(context.Context, secret.Value, broker.UI) (secret.Value, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unauth++
	return f.next(), nil
}
func (f *fakeTokens) StepUp(_ context.Context, _ secret.Value, s []string, _ broker.UI) (secret.Value, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stepUp++
	f.scopes = s
	return f.next(), nil
}
func (f *fakeTokens) NotGranted([]string) { f.mu.Lock(); f.denied++; f.mu.Unlock() }
func (f *fakeTokens) Cached(context.Context) (vault.Record, error) {
	return vault.Record{}, broker.ErrLoginRequired
}

func newTestTransport(t *testing.T, h http.HandlerFunc) (*authTransport, *fakeTokens, string) {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	target, _ := url.Parse(srv.URL + "/mcp")
	f := &fakeTokens{}
	at := &authTransport{base: http.DefaultTransport, target: target, tokens: f, log: discard(),
		headers: []config.Header{{Name: "X-Api-Key", Value: secret.New("fake-key")}}, now: time.Now}
	return at, f, srv.URL + "/mcp"
}

func post(t *testing.T, at *authTransport, u string) (*http.Response, error) {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"x"}`))
	return (&http.Client{Transport: at}).Do(req)
}

func TestAuthTransport(t *testing.T) {
	cases := []struct {
		name                  string
		answer                func(n int, auth string) (int, string) // status, WWW-Authenticate
		status                int
		tokens, unauth, steps int
		authErr               bool
	}{
		{"ok", func(int, string) (int, string) { return 200, "" }, 200, 1, 0, 0, false},
		{"401 then ok", func(n int, _ string) (int, string) {
			if n == 1 {
				return 401, `Bearer error="invalid_token"`
			}
			return 200, ""
		}, 200, 1, 1, 0, false},
		{"401 twice", func(int, string) (int, string) { return 401, `Bearer error="invalid_token"` }, 0, 1, 1, 0, true},
		{"403 step-up", func(n int, _ string) (int, string) {
			if n == 1 {
				return 403, `Bearer error="insufficient_scope", scope="admin"`
			}
			return 200, ""
		}, 200, 1, 0, 1, false},
		{"403 other", func(int, string) (int, string) { return 403, `Bearer error="forbidden"` }, 403, 1, 0, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var n int
			var seen []string
			at, f, u := newTestTransport(t, func(w http.ResponseWriter, r *http.Request) {
				n++
				body, _ := io.ReadAll(r.Body)
				if !strings.Contains(string(body), `"method":"x"`) || r.Header.Get("X-Api-Key") != "fake-key" {
					t.Errorf("attempt %d: body %q, header %q", n, body, r.Header.Get("X-Api-Key"))
				}
				seen = append(seen, r.Header.Get("Authorization"))
				st, ch := c.answer(n, r.Header.Get("Authorization"))
				if ch != "" {
					w.Header().Set("WWW-Authenticate", ch)
				}
				w.WriteHeader(st)
			})
			resp, err := post(t, at, u)
			var ae *AuthError
			if c.authErr != errors.As(err, &ae) {
				t.Fatalf("err %v", err)
			}
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != c.status {
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
			if f.tokens != c.tokens || f.unauth != c.unauth || f.stepUp != c.steps {
				t.Fatalf("Token %d, Unauthorized %d, StepUp %d", f.tokens, f.unauth, f.stepUp)
			}
			if len(seen) > 1 && seen[0] == seen[1] {
				t.Fatalf("the retry sent the refused token again")
			}
			if c.steps > 0 && strings.Join(f.scopes, " ") != "admin" {
				t.Fatalf("step-up scopes %v", f.scopes)
			}
		})
	}
}

// The first request while the issuer is unknown goes without a token; its
// 401 names the resource metadata, which reaches Hint.
func TestAuthTransportDiscoveryFrom401(t *testing.T) {
	var auths []string
	at, f, u := newTestTransport(t, func(w http.ResponseWriter, r *http.Request) {
		auths = append(auths, r.Header.Get("Authorization"))
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="https://as.example/.well-known/oauth-protected-resource/mcp"`)
			w.WriteHeader(401)
			return
		}
	})
	var hint string
	at.resolved = func() bool { return hint != "" }
	at.hint = func(s string) { hint = s }
	resp, err := post(t, at, u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if hint != "https://as.example/.well-known/oauth-protected-resource/mcp" || len(auths) != 2 || auths[0] != "" || auths[1] != "Bearer tok-1" || f.tokens != 1 {
		t.Fatalf("hint %q, auths %q", hint, auths)
	}
}

// Credentials go to the MCP URL only: not another path, host or scheme,
// and never after a redirect.
func TestAuthTransportOnlyMCPURL(t *testing.T) {
	var got []string
	at, _, u := newTestTransport(t, func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.Path+" "+r.Header.Get("Authorization"))
		if r.URL.Path == "/mcp" {
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		}
	})
	for _, other := range []string{strings.Replace(u, "/mcp", "/other", 1), strings.Replace(u, "http://", "https://", 1), strings.Replace(u, "127.0.0.1", "localhost", 1)} {
		if _, err := post(t, at, other); !errors.Is(err, ErrOtherURL) {
			t.Errorf("%s: %v", other, err)
		}
	}
	c := &http.Client{Transport: at, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("{}"))
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("redirect: %v", err)
	}
	resp.Body.Close()
	if len(got) != 1 {
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
		l := &limitBody{rc: rc, r: lines.Limit(rc, c.max, ErrMessageTooLarge), left: c.left}
		_, err := io.ReadAll(l)
		if c.ok != (err == nil) || (!c.ok && !errors.Is(err, ErrMessageTooLarge)) {
			t.Errorf("%q max %d left %d: %v", c.in, c.max, c.left, err)
		}
	}
}
