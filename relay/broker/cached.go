package broker

import (
	"context"
	"errors"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// CachedToken returns the held access token when it has not expired, with
// no network call, refresh or sign-in; the zero Value when none is held or
// it has expired. It is for requests that must never open a browser (a
// start-up probe, a background stream).
func (b *Broker) CachedToken(ctx context.Context) (secret.Value, error) {
	r, err := b.Cached(ctx)
	switch {
	case errors.Is(err, ErrLoginRequired):
		return secret.Value{}, nil
	case err != nil:
		return secret.Value{}, err
	case !r.Expiry.IsZero() && !b.now().Before(r.Expiry):
		return secret.Value{}, nil
	}
	return r.AccessToken, nil
}

// Holds reports whether a token is held that Token can use without a
// sign-in: an access token, even an expired one, or a refresh token, of
// a sign-in within MaxSession. It makes no sign-in or refresh; the
// account may need Resolve. A request that may sign in goes first
// without a token when none is held, so that the resource's 401 names
// the scope to ask for (authhttp.Holder).
func (b *Broker) Holds(ctx context.Context) bool {
	r, err := b.Cached(ctx)
	return err == nil && (!r.AccessToken.IsZero() || !r.RefreshToken.IsZero()) && !b.sessionOver(&r)
}
