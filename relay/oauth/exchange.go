package oauth

import (
	"context"
	"net/url"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// exchange redeems the authorization code (RFC 6749 §4.1.3) with the PKCE
// verifier, the same redirect_uri and the resource (C17, C18). The client
// is public: client_id goes in the body and there is no Authorization
// header, as x/oauth2's AuthStyleInParams would do. The POST is written
// here rather than through oauth2.Config.Exchange so that exchange and
// refresh share one strict decoder, and so that no raw response body can
// reach an error (x/oauth2's RetrieveError prints it).
func (l *Login) exchange(ctx context.Context, code secret.Value) (*Tokens, error) {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code.Reveal()},
		"redirect_uri":  {l.redirect},
		"client_id":     {l.c.ClientID},
		"code_verifier": {l.pkce.verifier.Reveal()},
	}
	if l.c.Resource != "" {
		form.Set("resource", l.c.Resource)
	}
	return l.c.token(ctx, form, l.c.Scopes, code, l.pkce.verifier, l.state)
}
