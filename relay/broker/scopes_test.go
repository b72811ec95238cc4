package broker

import (
	"context"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// scopingAuth is fakeAuth with a server that suggests scopes (Scoper).
type scopingAuth struct {
	*fakeAuth
	supported []string // the protected resource metadata's scopes_supported
	offline   bool     // the authorization server lists offline_access
}

func (s *scopingAuth) DefaultScopes(context.Context) []string { return s.supported }
func (s *scopingAuth) Offline(context.Context) bool           { return s.offline }

// TestLoginScopes: the scopes of a sign-in follow the MCP authorization
// specification's scope selection strategy, with RELAY_SCOPES first: the
// 401's scope, else the resource's scopes_supported, else none at all;
// offline_access is added only when the authorization server lists it,
// something is asked for, and RELAY_SCOPES is not set.
func TestLoginScopes(t *testing.T) {
	for _, c := range []struct {
		name       string
		relay      []string // RELAY_SCOPES
		challenged []string
		supported  []string
		offline    bool
		want       string
	}{
		{"the 401's scope", nil, []string{"mcp:basic"}, []string{"mcp:basic", "mcp:write"}, false, "mcp:basic"},
		{"else scopes_supported", nil, nil, []string{"mcp:basic", "mcp:read"}, false, "mcp:basic mcp:read"},
		{"else none", nil, nil, nil, false, ""},
		{"RELAY_SCOPES override", []string{"openid"}, []string{"mcp:basic"}, []string{"mcp:basic"}, true, "openid"},
		{"offline_access when listed", nil, []string{"mcp:basic"}, nil, true, "mcp:basic offline_access"},
		{"never offline_access alone", nil, nil, nil, true, ""},
		{"offline_access not repeated", nil, []string{"offline_access", "a"}, nil, true, "offline_access a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, fa, _ := newBroker(t)
			b.Scopes = c.relay
			b.Auth = &scopingAuth{fakeAuth: fa, supported: c.supported, offline: c.offline}
			_, err := b.Challenged(context.Background(), secret.Value{}, c.challenged, nil)
			testkit.NoErr(t, err, "Challenged")
			if got := strings.Join(fa.lastScopes, " "); got != c.want {
				t.Fatalf("the sign-in asked for %q, want %q", got, c.want)
			}
		})
	}
}

// TestStepUpScopes: a step-up asks for the scopes held and those the 403
// named, not the resource's scopes_supported.
func TestStepUpScopes(t *testing.T) {
	b, fa, _ := newBroker(t)
	b.Auth = &scopingAuth{fakeAuth: fa, supported: []string{"mcp:basic", "mcp:write", "mcp:admin"}}
	_, err := b.Challenged(context.Background(), secret.Value{}, []string{"mcp:basic"}, nil)
	testkit.NoErr(t, err, "first sign-in")
	held := secret.New("access-1")
	_, err = b.StepUp(context.Background(), held, []string{"mcp:basic", "mcp:write"}, nil)
	testkit.NoErr(t, err, "step-up")
	if got := strings.Join(fa.lastScopes, " "); got != "mcp:basic mcp:write" {
		t.Fatalf("the step-up asked for %q", got)
	}
}

// TestHolds: no token is held before a sign-in; after one it is, and still
// when the access token has expired but a refresh token is held.
func TestHolds(t *testing.T) {
	b, fa, clk := newBroker(t)
	if b.Holds(context.Background()) {
		t.Fatal("a token held before any sign-in")
	}
	mustToken(t, b)
	clk.Advance(2 * fa.ttl)
	b.Forget()
	if !b.Holds(context.Background()) || fa.refreshes.Load() != 0 {
		t.Fatal("an expired token with its refresh token is not held, or Holds refreshed")
	}
}
