package oauth

import (
	"context"
	"net/url"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// Refresh redeems a refresh token (RFC 6749 §6). The POST is written here
// because x/oauth2's cannot send resource, which MCP requires on refresh
// (C17), and keeps a rotated refresh token to itself. It sends grant_type,
// refresh_token, client_id and resource, and no scope, so the grant keeps
// the scopes it had.
//
// When the server rotates the refresh token the new one is in the result,
// and the caller must store it before using the new access token (C15);
// when it does not, the result carries the old one. An invalid_grant answer
// is an *Error wrapping ErrInvalidGrant: drop the tokens and log in again
// (C16). Refresh does no retry and no locking; the caller serialises.
func (c *Client) Refresh(ctx context.Context, refresh secret.Value) (*Tokens, error) {
	if _, err := c.check(); err != nil {
		return nil, err
	}
	if refresh.IsZero() {
		return nil, ErrNoRefreshToken
	}
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refresh.Reveal()},
		"client_id":     {c.ClientID},
	}
	if c.Resource != "" {
		form.Set("resource", c.Resource)
	}
	tok, err := c.token(ctx, form, c.Scopes, refresh)
	if err != nil {
		return nil, err
	}
	if tok.RefreshToken.IsZero() {
		tok.RefreshToken = refresh
	}
	return tok, nil
}
