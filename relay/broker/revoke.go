package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/vault"
)

// Revoker is an optional part of Auth: Revoke asks the authorization
// server to revoke tok (RFC 7009); hint is "refresh_token" or
// "access_token". It returns an error wrapping oauth.ErrNoRevocation when
// the server has no revocation endpoint. It must honour ctx, and its
// errors must not hold tok.
type Revoker interface {
	Revoke(ctx context.Context, tok secret.Value, hint string) error
}

// revokeTimeout bounds Revoke: a logout must not hang on the server.
const revokeTimeout = 10 * time.Second

// RevokeOutcome says what Revoke did.
type RevokeOutcome int

const (
	// NotAsked: the account or the stored tokens could not be read, so
	// the server was not asked; the error says why.
	NotAsked RevokeOutcome = iota
	// NothingStored: no tokens are stored for the account.
	NothingStored
	// NoEndpoint: the server has no revocation endpoint (or Auth cannot
	// revoke); the tokens stay valid there until they expire.
	NoEndpoint
	// Revoked: the server revoked the token (or, per RFC 7009, did not
	// know it).
	Revoked
	// Failed: the server was asked and failed; the error says why.
	Failed
)

// Revocation is what Revoke did. It never holds a token.
type Revocation struct {
	Outcome RevokeOutcome
	// Kind is the kind of token sent: "refresh_token", or "access_token"
	// when no refresh token is stored.
	Kind string
	// Issuer is the authorization server asked.
	Issuer string
}

// Revoke asks the authorization server to revoke the account's stored
// refresh token (else its access token), best effort, within 10 s. It
// leaves the stored tokens as they are: the caller wipes them. The error,
// set for the outcomes NotAsked and Failed, never holds a token.
func (b *Broker) Revoke(ctx context.Context) (Revocation, error) {
	acct, err := b.account(ctx)
	if err != nil {
		return Revocation{}, err
	}
	r, err := b.Store.Get(ctx, acct)
	switch {
	case errors.Is(err, vault.ErrNotFound):
		return Revocation{Outcome: NothingStored}, nil
	case err != nil:
		return Revocation{}, fmt.Errorf("cannot read the vault: %w", err)
	}
	rev := Revocation{Kind: "refresh_token", Issuer: acct.Issuer}
	tok := r.RefreshToken
	if tok.IsZero() {
		tok, rev.Kind = r.AccessToken, "access_token"
	}
	rv, ok := b.Auth.(Revoker)
	switch {
	case tok.IsZero():
		return Revocation{Outcome: NothingStored}, nil
	case !ok:
		rev.Outcome = NoEndpoint
		return rev, nil
	}
	ctx, cancel := context.WithTimeout(ctx, revokeTimeout)
	defer cancel()
	switch err := rv.Revoke(ctx, tok, rev.Kind); {
	case err == nil:
		rev.Outcome = Revoked
	case errors.Is(err, oauth.ErrNoRevocation):
		rev.Outcome = NoEndpoint
	default:
		rev.Outcome = Failed
		return rev, scrub(err, tok)
	}
	return rev, nil
}

// scrub returns err, or, should its text hold tok against the Revoker's
// contract, the text with tok redacted.
func scrub(err error, tok secret.Value) error {
	if msg := err.Error(); strings.Contains(msg, tok.Reveal()) {
		return errors.New(strings.ReplaceAll(msg, tok.Reveal(), secret.Redacted))
	}
	return err
}

// Report says what happened, for the person, with Revoke's error: one
// line without a token.
func (r Revocation) Report(err error) string {
	switch r.Outcome {
	case NotAsked:
		return fmt.Sprintf("revocation skipped: %v", err)
	case NothingStored:
		return "revocation: no stored tokens for this server"
	case NoEndpoint:
		return "revocation: the server has no revocation endpoint; tokens are wiped locally only"
	case Revoked:
		return fmt.Sprintf("revocation: the %s was revoked at %s", r.Kind, r.Issuer)
	}
	return fmt.Sprintf("revocation failed (%v); tokens are wiped locally anyway", err)
}
