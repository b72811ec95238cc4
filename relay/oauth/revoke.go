package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// revokeTimeout bounds a revocation: logout must not hang on it.
const revokeTimeout = 5 * time.Second

// Revoke asks the server to revoke token (RFC 7009), with hint as
// token_type_hint ("refresh_token", "access_token" or ""). It is best
// effort, bounded by a 5 s timeout. It returns ErrNoRevocation when the
// metadata has no revocation endpoint, and nil when the server answered
// 200, which RFC 7009 also uses for unknown tokens.
func (c *Client) Revoke(ctx context.Context, token secret.Value, hint string) error {
	md, err := c.check()
	if err != nil {
		return err
	}
	if md.RevocationEndpoint == "" {
		return ErrNoRevocation
	}
	ctx, cancel := context.WithTimeout(ctx, revokeTimeout)
	defer cancel()
	form := url.Values{"token": {token.Reveal()}, "client_id": {c.ClientID}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	status, body, err := c.postForm(ctx, md.RevocationEndpoint, form)
	c.log().Debug("oauth: revocation", "client_id", c.ClientID, "endpoint", md.RevocationEndpoint, "hint", hint, "status", status)
	if err != nil {
		return err
	}
	if status == http.StatusOK {
		return nil
	}
	return revokeError(status, body, token, c.ClientSecret)
}

// revokeError converts a refusal, keeping only a sanitised OAuth error
// with the secrets the request carried (sent) scrubbed.
func revokeError(status int, body []byte, sent ...secret.Value) error {
	var e struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return newError(e.Error, e.ErrorDescription, sent...)
	}
	return fmt.Errorf("%w: revocation answered HTTP %d", ErrBadResponse, status)
}
