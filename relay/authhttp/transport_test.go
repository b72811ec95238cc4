package authhttp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/signin"
)

// fakeTokens is an in-memory Tokens: token N is "tok-N"; every call is
// counted. cached is what CachedToken returns.
type fakeTokens struct {
	mu                             sync.Mutex
	n                              int
	tokens, unauth, stepUp, denied int
	scopes                         []string
	cached                         secret.Value
	err                            error
	uis                            []broker.UI
}

func (f *fakeTokens) next() secret.Value { f.n++; return secret.New("tok-" + string(rune('0'+f.n))) }

func (f *fakeTokens) Token(_ context.Context, ui broker.UI) (secret.Value, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens++
	f.uis = append(f.uis, ui)
	if f.err != nil {
		return secret.Value{}, f.err
	}
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

func (f *fakeTokens) CachedToken(context.Context) (secret.Value, error) { return f.cached, nil }

// server answers each request with answer(n, its Authorization header) and
// records the headers it got.
type server struct {
	mu    sync.Mutex
	n     int
	auths []string
}

func newTransport(t *testing.T, answer func(n int, auth string) (int, string)) (*Transport, *fakeTokens, *server, string) {
	s := &server{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.n++
		n := s.n
		s.auths = append(s.auths, r.Header.Get("Authorization"))
		s.mu.Unlock()
		if r.Method == http.MethodPost && string(body) != `{"jsonrpc":"2.0","id":1,"method":"x"}` {
			t.Errorf("attempt %d: body %q", n, body) // a retry sends the body again
		}
		st, ch := answer(n, r.Header.Get("Authorization"))
		if ch != "" {
			w.Header().Set("WWW-Authenticate", ch)
		}
		w.WriteHeader(st)
	}))
	t.Cleanup(srv.Close)
	f := &fakeTokens{}
	return &Transport{Base: http.DefaultTransport, Tokens: f, Peer: "MCP server"}, f, s, srv.URL + "/mcp"
}

func do(t *testing.T, tr *Transport, ctx context.Context, method, u string) (*http.Response, error) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, method, u, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"x"}`))
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

func TestPolicy(t *testing.T) {
	invalid := `Bearer error="invalid_token"`
	cases := []struct {
		name                  string
		answer                func(n int, auth string) (int, string) // status, WWW-Authenticate
		tokens, unauth, steps int
		denied                int
		authErr               int // the *AuthError's status, 0 for none
	}{
		{"ok", func(int, string) (int, string) { return 200, "" }, 1, 0, 0, 0, 0},
		{"401 then ok", func(n int, _ string) (int, string) {
			if n == 1 {
				return 401, invalid
			}
			return 200, ""
		}, 1, 1, 0, 0, 0},
		{"401 twice", func(int, string) (int, string) { return 401, invalid }, 1, 1, 0, 0, 401},
		{"403 step-up", func(n int, _ string) (int, string) {
			if n == 1 {
				return 403, `Bearer error="insufficient_scope", scope="admin"`
			}
			return 200, ""
		}, 1, 0, 1, 0, 0},
		{"403 step-up not granted", func(int, string) (int, string) {
			return 403, `Bearer error="insufficient_scope", scope="admin"`
		}, 1, 0, 1, 1, 403},
		{"403 other", func(int, string) (int, string) { return 403, `Bearer error="forbidden"` }, 1, 0, 0, 0, 403},
		{"500 passes", func(int, string) (int, string) { return 500, "" }, 1, 0, 0, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, f, s, u := newTransport(t, c.answer)
			_, err := do(t, tr, context.Background(), http.MethodPost, u)
			var ae *AuthError
			if got := 0; errors.As(err, &ae) {
				got = ae.Status
				if got != c.authErr {
					t.Fatalf("AuthError %d, want %d", got, c.authErr)
				}
			} else if c.authErr != 0 || err != nil {
				t.Fatalf("err %v, want an AuthError %d", err, c.authErr)
			}
			if f.tokens != c.tokens || f.unauth != c.unauth || f.stepUp != c.steps || f.denied != c.denied {
				t.Fatalf("Token %d, Unauthorized %d, StepUp %d, NotGranted %d", f.tokens, f.unauth, f.stepUp, f.denied)
			}
			if len(s.auths) > 2 {
				t.Fatalf("%d attempts: a 401 or 403 is retried once at most", len(s.auths))
			}
			if len(s.auths) == 2 && s.auths[0] == s.auths[1] {
				t.Fatal("the retry sent the refused token again")
			}
			if c.steps > 0 && strings.Join(f.scopes, " ") != "admin" {
				t.Fatalf("step-up scopes %v", f.scopes)
			}
		})
	}
}

// The modes: None never sends a token; Cached and Probe send the cached
// one only and never sign in; Anonymous goes first without a token; the
// default is SignIn for a POST and Cached for anything else.
func TestModes(t *testing.T) {
	ok := func(_ int, auth string) (int, string) {
		if auth == "" {
			return 401, `Bearer resource_metadata="https://rs.example/.well-known/oauth-protected-resource"`
		}
		return 200, ""
	}
	cases := []struct {
		name   string
		mode   Mode
		method string
		cached string
		auths  string // the Authorization headers the server got
		tokens int
		err    error // nil, ErrNoCachedToken, or errAuth for an *AuthError
	}{
		{"none", None, http.MethodPost, "cached", "", 0, errAuth},
		{"cached", Cached, http.MethodPost, "cached", "Bearer cached", 0, nil},
		{"cached without a token", Cached, http.MethodPost, "", "", 0, errAuth},
		{"probe without a token", Probe, http.MethodPost, "", "", 0, ErrNoCachedToken},
		{"probe", Probe, http.MethodGet, "cached", "Bearer cached", 0, nil},
		{"anonymous", Anonymous, http.MethodPost, "", ",Bearer tok-1", 1, nil},
		{"default POST", Default, http.MethodPost, "cached", "Bearer tok-1", 1, nil},
		{"default GET", Default, http.MethodGet, "cached", "Bearer cached", 0, nil},
		{"default DELETE", Default, http.MethodDelete, "", "", 0, errAuth},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, f, s, u := newTransport(t, ok)
			if c.cached != "" {
				f.cached = secret.New(c.cached)
			}
			_, err := do(t, tr, WithMode(context.Background(), c.mode), c.method, u)
			var ae *AuthError
			switch {
			case c.err == errAuth && !errors.As(err, &ae):
				t.Fatalf("err %v, want an AuthError", err)
			case c.err != errAuth && !errors.Is(err, c.err):
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if got := strings.Join(s.auths, ","); got != c.auths || f.tokens != c.tokens {
				t.Fatalf("the server got %q, Token called %d times; want %q, %d", got, f.tokens, c.auths, c.tokens)
			}
		})
	}
}

var errAuth = errors.New("an *AuthError")

// The first request while the issuer is unknown goes without a token; its
// 401 names the resource metadata, which reaches Hint. The request's
// sign-in UI reaches the broker.
func TestDiscoveryFrom401(t *testing.T) {
	tr, f, s, u := newTransport(t, func(_ int, auth string) (int, string) {
		if auth == "" {
			return 401, `Bearer resource_metadata="https://as.example/.well-known/oauth-protected-resource/mcp"`
		}
		return 200, ""
	})
	var hint string
	tr.Resolved = func() bool { return hint != "" }
	tr.Hint = func(h string) { hint = h }
	ui := signin.New(func(context.Context, string, map[string]any) {}, nil)
	if _, err := do(t, tr, signin.NewContext(context.Background(), ui), http.MethodPost, u); err != nil {
		t.Fatal(err)
	}
	if hint != "https://as.example/.well-known/oauth-protected-resource/mcp" || strings.Join(s.auths, ",") != ",Bearer tok-1" || f.tokens != 1 {
		t.Fatalf("hint %q, auths %q", hint, s.auths)
	}
	if len(f.uis) != 1 || f.uis[0] != broker.UI(ui) {
		t.Fatalf("the broker got UIs %v", f.uis)
	}
	// Without a UI in the context, the broker gets a nil interface, not a
	// nil *signin.UI.
	if _, err := do(t, tr, context.Background(), http.MethodPost, u); err != nil || f.uis[1] != nil {
		t.Fatalf("second request: %v, UI %#v", err, f.uis[1])
	}
}

// A sign-in that fails is a *SignInError whose text is the broker's; no
// text holds a token.
func TestErrorsHoldNoToken(t *testing.T) {
	tr, f, _, u := newTransport(t, func(int, string) (int, string) { return 200, "" })
	f.err = errors.New("broker: new tokens could not be stored")
	_, err := do(t, tr, context.Background(), http.MethodPost, u)
	var se *SignInError
	if !errors.As(err, &se) || se.UserText() != "broker: new tokens could not be stored" {
		t.Fatalf("err %v", err)
	}
	tr, _, _, u = newTransport(t, func(int, string) (int, string) { return 401, `Bearer error="invalid_token"` })
	_, err = do(t, tr, context.Background(), http.MethodPost, u)
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("err %v", err)
	}
	for _, s := range []string{err.Error(), ae.UserText()} {
		if strings.Contains(s, "tok-") {
			t.Fatalf("a text holds a token: %q", s)
		}
	}
	if !strings.Contains(ae.UserText(), "the MCP server refused the token even after a refresh") {
		t.Fatalf("text %q", ae.UserText())
	}
}
