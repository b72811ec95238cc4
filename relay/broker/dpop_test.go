package broker

import (
	"context"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/dpop"
	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/oauth"
)

// dpopBind makes fa a DPoP server: it makes a key in the signer it is
// given, as relay/oauth does, and binds the tokens to it. It returns the
// key each Login or Refresh found in its context ("" for none).
func dpopBind(fa *fakeAuth) *[]string {
	seen := &[]string{}
	fa.bind = func(ctx context.Context, t *oauth.Tokens) {
		s := oauth.DPoPFrom(ctx)
		if s == nil {
			*seen = append(*seen, "no signer")
			return
		}
		jkt := ""
		if k := s.Key(); k != nil {
			jkt = k.Thumbprint()
		}
		*seen = append(*seen, jkt)
		k, _ := s.EnsureKey(dpop.ES256)
		t.TokenType, t.DPoPKey = "DPoP", k
	}
	return seen
}

// TestDPoPKeyKeptWithTheTokens: the key of a sign-in is stored with the
// tokens, handed to the refresh and to a sign-in after invalid_grant (one
// key per vault record), and to the resource requests of its token only.
func TestDPoPKeyKeptWithTheTokens(t *testing.T) {
	b, fa, clk := newBroker(t)
	seen := dpopBind(fa)
	tok, err := b.Token(context.Background(), nil)
	testkit.NoErr(t, err)
	r, err := b.Store.Get(context.Background(), acct)
	if err != nil || r.TokenType != "DPoP" || r.DPoPKey.IsZero() || r.DPoPAlg != dpop.ES256 {
		t.Fatalf("stored %q with a key: %v (%v)", r.TokenType, !r.DPoPKey.IsZero(), err)
	}
	jkt := Thumbprint(&r)
	if s := b.DPoPFor(context.Background(), tok); s == nil || s.Key().Thumbprint() != jkt {
		t.Fatal("the held token's requests get no signer, or another key")
	}
	if s := b.DPoPFor(context.Background(), secret.New("another-token")); s != nil {
		t.Fatal("a token that is not the held one got the key")
	}

	b.Forget() // a fresh process: the key comes from the vault
	clk.Advance(time.Hour)
	mustToken(t, b)
	fa.refreshErr = &oauth.Error{Code: "invalid_grant"}
	clk.Advance(time.Hour)
	mustToken(t, b)
	if s := *seen; len(s) != 3 || s[0] != "" || s[1] != jkt || s[2] != jkt {
		t.Fatalf("keys handed to login, refresh, login: %q; want none, then %s twice", s, jkt)
	}
	if r, _ := b.Store.Get(context.Background(), acct); Thumbprint(&r) != jkt {
		t.Fatal("the key changed")
	}
}

// TestDPoPBearerTokensGetNoSigner: bearer tokens (a server without DPoP)
// go as bearer tokens, key or not.
func TestDPoPBearerTokensGetNoSigner(t *testing.T) {
	b, _, _ := newBroker(t)
	tok, err := b.Token(context.Background(), nil)
	testkit.NoErr(t, err)
	if b.DPoPFor(context.Background(), tok) != nil {
		t.Fatal("a bearer token got a signer")
	}
}
