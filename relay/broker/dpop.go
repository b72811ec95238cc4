package broker

import (
	"context"
	"encoding/base64"
	"strings"

	"github.com/keyrelay/keyrelay/internal/dpop"
	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/vault"
)

// DPoP (RFC 9449). The key is kept in the vault record with the tokens it
// binds (vault.Record.DPoPKey), sealed like them, and goes when they go
// (logout). A sign-in or a refresh gets the record's key, if any, through
// its context (oauth.WithDPoP); a sign-in with a server that offers DPoP
// makes one when there is none yet, and the record keeps it for the
// sign-ins after. A resource request gets the key for its token from
// DPoPFor.

// signerFor returns the signer of r's key, or one without a key when r
// has none. b.mu is held. The same signer serves while the key is the
// same, so the servers' nonces it keeps last.
func (b *Broker) signerFor(r *vault.Record) *dpop.Signer {
	enc := ""
	if r != nil {
		enc = r.DPoPKey.Reveal()
	}
	if b.dpop != nil && enc == b.dpopKey && (enc != "" || b.dpop.Key() == nil) {
		return b.dpop
	}
	b.dpop, b.dpopKey = dpop.NewSigner(nil), ""
	if enc == "" {
		return b.dpop
	}
	der, err := base64.StdEncoding.DecodeString(enc)
	var k *dpop.Key
	if err == nil {
		k, err = dpop.ParseKey(r.DPoPAlg, der)
	}
	if err != nil {
		// The tokens bound to it are useless: the next sign-in makes a
		// new key (a refresh with none is refused by the server).
		b.log().Warn("the stored DPoP key is unreadable; the next sign-in makes a new one", "err", err)
		return b.dpop
	}
	b.dpop, b.dpopKey = dpop.NewSigner(k), enc
	return b.dpop
}

// withDPoP is ctx carrying the signer of cur's key, for a refresh or a
// sign-in. b.mu is held.
func (b *Broker) withDPoP(ctx context.Context, cur *vault.Record) context.Context {
	return oauth.WithDPoP(ctx, b.signerFor(cur))
}

// keepKey puts the key of new tokens t in r, or keeps cur's when t are
// not bound to one.
func keepKey(r, cur *vault.Record, t *oauth.Tokens) {
	if t.DPoPKey != nil {
		if der, err := t.DPoPKey.Marshal(); err == nil {
			r.DPoPKey, r.DPoPAlg = secret.New(base64.StdEncoding.EncodeToString(der)), t.DPoPKey.Alg()
			return
		}
	}
	if cur != nil {
		r.DPoPKey, r.DPoPAlg = cur.DPoPKey, cur.DPoPAlg
	}
}

// DPoPFor returns the signer for a request that presents tok, when tok is
// the held access token and is bound to a DPoP key (token_type DPoP); nil
// otherwise: the token then goes as a bearer token.
func (b *Broker) DPoPFor(ctx context.Context, tok secret.Value) *dpop.Signer {
	r, err := b.Cached(ctx)
	if err != nil || !strings.EqualFold(r.TokenType, "DPoP") || r.DPoPKey.IsZero() || !r.AccessToken.Equal(tok) {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.signerFor(&r)
	if s.Key() == nil {
		return nil
	}
	return s
}

// Thumbprint returns the RFC 7638 thumbprint of r's DPoP key, "" when it
// has none or it is unreadable: what `relay status` shows, never the key.
func Thumbprint(r *vault.Record) string {
	if r == nil || r.DPoPKey.IsZero() {
		return ""
	}
	der, err := base64.StdEncoding.DecodeString(r.DPoPKey.Reveal())
	if err != nil {
		return ""
	}
	k, err := dpop.ParseKey(r.DPoPAlg, der)
	if err != nil {
		return ""
	}
	return k.Thumbprint()
}
