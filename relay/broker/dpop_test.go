package broker

import (
	"context"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/dpop"
	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/oauth"
)

// dpopAuth is fakeAuth as a DPoP server: it makes a key in the signer it
// is given, as relay/oauth does, binds the tokens to it, and records the
// key each call got.
type dpopAuth struct {
	*fakeAuth
	seen []string // the thumbprint each Login or Refresh found in its context ("" for none)
}

func (d *dpopAuth) bind(ctx context.Context, t *oauth.Tokens) *oauth.Tokens {
	s := oauth.DPoPFrom(ctx)
	if s == nil {
		d.seen = append(d.seen, "no signer")
		return t
	}
	jkt := ""
	if k := s.Key(); k != nil {
		jkt = k.Thumbprint()
	}
	d.seen = append(d.seen, jkt)
	k, _ := s.EnsureKey(dpop.ES256)
	t.TokenType, t.DPoPKey = "DPoP", k
	return t
}

func (d *dpopAuth) Login(ctx context.Context, scopes []string, ui UI) (*oauth.Tokens, error) {
	t, err := d.fakeAuth.Login(ctx, scopes, ui)
	if err != nil {
		return nil, err
	}
	return d.bind(ctx, t), nil
}

func (d *dpopAuth) Refresh(ctx context.Context, rt secret.Value) (*oauth.Tokens, error) {
	t, err := d.fakeAuth.Refresh(ctx, rt)
	if err != nil {
		return nil, err
	}
	return d.bind(ctx, t), nil
}

// TestDPoPKeyKeptWithTheTokens: the key of a sign-in is stored with the
// tokens, handed to the refresh and to a sign-in after invalid_grant (one
// key per vault record), and to the resource requests of its token only.
func TestDPoPKeyKeptWithTheTokens(t *testing.T) {
	b, fa, clk := newBroker(t)
	da := &dpopAuth{fakeAuth: fa}
	b.Auth = da
	tok, err := b.Token(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
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
	if len(da.seen) != 3 || da.seen[0] != "" || da.seen[1] != jkt || da.seen[2] != jkt {
		t.Fatalf("keys handed to login, refresh, login: %q; want none, then %s twice", da.seen, jkt)
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
	if err != nil {
		t.Fatal(err)
	}
	if b.DPoPFor(context.Background(), tok) != nil {
		t.Fatal("a bearer token got a signer")
	}
}
