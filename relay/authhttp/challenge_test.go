package authhttp

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/broker"
)

// holdingTokens is fakeTokens that also says whether it holds a token
// (Holder) and takes a 401's scope (Challenger), recording each call.
type holdingTokens struct {
	*fakeTokens
	holds      bool
	challenged []string // "rejected|scope" per Challenged call
}

func (h *holdingTokens) Holds(context.Context) bool { return h.holds }

func (h *holdingTokens) Challenged(_ context.Context, rejected secret.Value, scope []string, _ broker.UI) (secret.Value, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.challenged = append(h.challenged, rejected.Reveal()+"|"+strings.Join(scope, " "))
	h.holds = true
	return h.next(), nil
}

// TestScopeFromChallenge: with the authorization server known but no token
// held, a request goes first without a token and the sign-in asks for the
// scope of the 401's challenge; a token held goes at once (no anonymous
// round trip per call), and a 401 to it passes its challenge's scope on
// with the refused token.
func TestScopeFromChallenge(t *testing.T) {
	answer := func(_ int, auth string) (int, string) {
		switch auth {
		case "", "Bearer tok-1":
			return 401, `Bearer scope="mcp:basic mcp:read", resource_metadata="https://rs.example/.well-known/oauth-protected-resource/mcp"`
		}
		return 200, ""
	}
	tr, f, s, u := newTransport(t, answer)
	h := &holdingTokens{fakeTokens: f}
	tr.Tokens, tr.Resolved = h, func() bool { return true }
	if _, err := do(t, tr, context.Background(), http.MethodPost, u); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.auths, ","); got != ",Bearer tok-1,Bearer tok-2" || f.tokens != 0 {
		t.Fatalf("the server got %q, Token called %d times; want a first request without a token and no Token", got, f.tokens)
	}
	if got := strings.Join(h.challenged, ";"); got != "|mcp:basic mcp:read;tok-1|mcp:basic mcp:read" {
		t.Fatalf("Challenged calls %q: the 401s' scope, with the refused token the second time", got)
	}
	// A token held goes at once.
	if _, err := do(t, tr, context.Background(), http.MethodPost, u); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.auths[3:], ","); got != "Bearer tok-2" || f.tokens != 1 {
		t.Fatalf("with a token held the server got %q (Token %d), want the token at once", got, f.tokens)
	}
}

// Without Holder, a request whose authorization server is known goes with
// a token at once, as before; without Challenger, a 401 is cured by Token
// or Unauthorized.
func TestWithoutHolder(t *testing.T) {
	tr, f, s, u := newTransport(t, func(_ int, auth string) (int, string) {
		if auth == "" {
			return 401, `Bearer scope="a"`
		}
		return 200, ""
	})
	tr.Resolved = func() bool { return false }
	if _, err := do(t, tr, context.Background(), http.MethodPost, u); err != nil {
		t.Fatal(err)
	}
	tr.Resolved = func() bool { return true }
	if _, err := do(t, tr, context.Background(), http.MethodPost, u); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.auths, ","); got != ",Bearer tok-1,Bearer tok-1" || f.tokens != 2 || f.unauth != 0 {
		t.Fatalf("the server got %q, Token %d, Unauthorized %d", got, f.tokens, f.unauth)
	}
}
