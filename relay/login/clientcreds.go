package login

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/relay/policy"
)

// ErrNoClientCredential means the client_credentials mode has no secret
// or key: none given and none stored in the vault.
var ErrNoClientCredential = errors.New("client credentials: no RELAY_CLIENT_SECRET or RELAY_CLIENT_KEY_FILE given, and none stored in the vault")

// clientCredentials signs in without a person: one client_credentials
// token request (OAuth 2.1 §4.2), authenticated with the stored secret
// or key. No browser, no device grant, no refresh token expected: the
// broker asks again when the token expires.
func (i *Interactive) clientCredentials(ctx context.Context, c *oauth.Client) (*oauth.Tokens, error) {
	if !i.Policy.ClientCredentialsAllowed() {
		return nil, &Error{Err: fmt.Errorf("%w: the client credentials mode is turned off (disable_client_credentials)", policy.ErrDenied)}
	}
	if c.ClientSecret.IsZero() && c.ClientKey.IsZero() {
		return nil, &Error{Err: ErrNoClientCredential}
	}
	i.log().Info("signing in with client credentials", "client_id", c.ClientID, "issuer", c.Metadata.Issuer)
	t, err := c.ClientCredentials(ctx)
	if err != nil {
		return nil, &Error{Issuer: c.Metadata.Issuer, Err: err}
	}
	return t, nil
}
