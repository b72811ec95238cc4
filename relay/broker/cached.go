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
