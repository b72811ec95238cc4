package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/oauth"
)

// A server that answers 401 to every token (and refuses refreshes) would
// get a browser tab per call. Once the token of a sign-in is refused at
// once, no sign-in starts for DeniedFor, or until Relogin (issue 21).
func TestRejectedFreshSignInOpensNoMoreTabs(t *testing.T) {
	b, fa, clk := newBroker(t)
	fa.refreshErr = oauth.ErrInvalidGrant
	ctx := context.Background()
	tok, err := b.Token(ctx, nil) // sign-in 1
	if err != nil {
		t.Fatal(err)
	}
	// The server refuses it: the caller gets another (a refresh refused
	// with invalid_grant, so sign-in 2), which the server refuses too.
	tok, err = b.Unauthorized(ctx, tok, nil)
	if err != nil || fa.logins.Load() != 2 {
		t.Fatalf("after the first 401: %v, %d sign-ins", err, fa.logins.Load())
	}
	b.Rejected(tok)
	if _, err := b.Unauthorized(ctx, tok, nil); !errors.Is(err, ErrSignInRefused) || fa.logins.Load() != 2 {
		t.Fatalf("the next call: %v, %d sign-ins; want ErrSignInRefused and no sign-in", err, fa.logins.Load())
	}
	clk.Advance(DeniedFor + time.Second)
	if tok, err = b.Unauthorized(ctx, tok, nil); err != nil || fa.logins.Load() != 3 {
		t.Fatalf("after the back-off: %v, %d sign-ins", err, fa.logins.Load())
	}
	// A refused token that is not the last sign-in's starts no back-off.
	b.Rejected(secret.New("access-1"))
	if tok, err = b.Unauthorized(ctx, tok, nil); err != nil || fa.logins.Load() != 4 {
		t.Fatalf("an old token refused: %v, %d sign-ins", err, fa.logins.Load())
	}
	// Relogin (relay login --force) signs in whatever, and ends a back-off.
	b.Rejected(tok)
	if _, err := b.Relogin(ctx, nil); err != nil || fa.logins.Load() != 5 {
		t.Fatalf("relogin: %v, %d sign-ins", err, fa.logins.Load())
	}
	if _, err := b.Unauthorized(ctx, secret.New("access-5"), nil); err != nil || fa.logins.Load() != 6 {
		t.Fatalf("after relogin: %v, %d sign-ins", err, fa.logins.Load())
	}
}
