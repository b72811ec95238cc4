package authhttp

import (
	"context"
	"net/http"

	"github.com/keyrelay/keyrelay/internal/dpop"
	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/oauth"
)

// Binder is an optional part of Tokens: DPoPFor returns the signer for a
// request that presents tok when tok is bound to a DPoP key (RFC 9449),
// nil for a bearer token. Each request then carries the DPoP scheme and a
// proof of its own, with ath, the method and the URL.
type Binder interface {
	DPoPFor(ctx context.Context, tok secret.Value) *dpop.Signer
}

var _ Binder = (*broker.Broker)(nil)

func (t *Transport) signer(ctx context.Context, tok secret.Value) *dpop.Signer {
	if tok.IsZero() {
		return nil
	}
	if b, ok := t.Tokens.(Binder); ok {
		return b.DPoPFor(ctx, tok)
	}
	return nil
}

// nonceAsked keeps the response's DPoP-Nonce and reports whether the
// response is a 401 asking for it (error="use_dpop_nonce") with a nonce
// not sent yet: a retry with it may then pass.
func nonceAsked(resp *http.Response, s *dpop.Signer, url string) bool {
	fresh := s.Observe(url, resp.Header)
	if resp.StatusCode != http.StatusUnauthorized || !fresh {
		return false
	}
	ch, _ := oauth.ParseChallenge(resp.Header.Values("WWW-Authenticate"))
	return ch.Error == "use_dpop_nonce"
}
