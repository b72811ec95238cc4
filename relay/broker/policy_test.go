package broker

import (
	"context"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/vault"
)

// TestMaxLifetimeCapsTokenUse: with the administrator's max_token_lifetime
// the relay refreshes a token that the server says lives an hour after
// five minutes, and a record stored before the policy is capped too.
func TestMaxLifetimeCapsTokenUse(t *testing.T) {
	b, fa, clk := newBroker(t)
	fa.ttl = time.Hour
	b.MaxLifetime = 5 * time.Minute
	mustToken(t, b)
	r, _ := b.Store.Get(context.Background(), acct)
	if want := clk.Now().Add(5 * time.Minute); !r.Expiry.Equal(want) {
		t.Fatalf("stored expiry %v, want %v (capped)", r.Expiry, want)
	}
	clk.Advance(3 * time.Minute)
	if got := mustToken(t, b); got != "access-1" {
		t.Fatalf("token replaced too early: %s", got)
	}
	clk.Advance(2 * time.Minute)
	if got := mustToken(t, b); got != "access-2" || fa.refreshes.Load() != 1 || fa.logins.Load() != 1 {
		t.Fatalf("got %s, refreshes %d, logins %d; want a refresh at the cap", got, fa.refreshes.Load(), fa.logins.Load())
	}

	// A record written before the policy, with a long expiry.
	b2, fa2, clk2 := newBroker(t)
	fa2.ttl = 24 * time.Hour
	mustToken(t, b2)
	clk2.Advance(10 * time.Minute)
	b2.Forget()
	b2.MaxLifetime = 5 * time.Minute
	if got := mustToken(t, b2); got != "access-2" || fa2.refreshes.Load() != 1 {
		t.Fatalf("pre-policy record used past the cap: %s, refreshes %d", got, fa2.refreshes.Load())
	}
}

// TestMaxSessionForcesSignIn: after max_session the refresh token is not
// used; the next call signs in again, and refreshes in between keep the
// sign-in time.
func TestMaxSessionForcesSignIn(t *testing.T) {
	b, fa, clk := newBroker(t)
	b.MaxSession = 30 * time.Minute
	start := clk.Now()
	mustToken(t, b)
	clk.Advance(10 * time.Minute) // expired: refresh, same sign-in
	if got := mustToken(t, b); got != "access-2" || fa.refreshes.Load() != 1 || fa.logins.Load() != 1 {
		t.Fatalf("got %s, refreshes %d, logins %d", got, fa.refreshes.Load(), fa.logins.Load())
	}
	r, _ := b.Store.Get(context.Background(), acct)
	if !r.SignedIn.Equal(start) {
		t.Fatalf("refresh changed SignedIn to %v, want %v", r.SignedIn, start)
	}
	clk.Advance(21 * time.Minute) // 31 min after sign-in; the token itself is still valid
	if got := mustToken(t, b); got != "access-3" || fa.logins.Load() != 2 || fa.refreshes.Load() != 1 {
		t.Fatalf("got %s, logins %d, refreshes %d; want a new sign-in and no refresh", got, fa.logins.Load(), fa.refreshes.Load())
	}
	r, _ = b.Store.Get(context.Background(), acct)
	if !r.SignedIn.Equal(clk.Now()) {
		t.Fatalf("new sign-in time %v, want %v", r.SignedIn, clk.Now())
	}

	// A record without a sign-in time (stored by an older relay) counts
	// as too old.
	err := b.Store.Update(context.Background(), acct, func(r *vault.Record) (*vault.Record, error) {
		r.SignedIn = time.Time{}
		return r, nil
	})
	testkit.NoErr(t, err)
	b.Forget()
	if mustToken(t, b); fa.logins.Load() != 3 {
		t.Fatalf("record without sign-in time was used (logins %d)", fa.logins.Load())
	}
}
