package oauth

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyrelay/keyrelay/internal/dpop"
	"github.com/keyrelay/keyrelay/internal/secret"
)

// defaultTimeout bounds each HTTP exchange when Client.HTTP is nil.
const defaultTimeout = 30 * time.Second

// Client is a public OAuth client. Its fields are read, never written, so a
// Client may be shared by goroutines once set up. StartLogin takes a copy,
// so changing a Client afterwards does not affect a login in progress.
type Client struct {
	// ClientID is the client_id, sent on every request. Required.
	ClientID string
	// Scopes are requested on login. Tokens.Scopes falls back to them when
	// the token response names none.
	Scopes []string
	// Resource is the RFC 8707 resource indicator, in canonical form (the
	// backend URL). It is sent on the authorization request, the code
	// exchange and every refresh. "" sends none, for servers that reject it.
	Resource string
	// Metadata is the server's metadata, usually from Discover. Required.
	Metadata *Metadata
	// HTTP makes the requests to the authorization server. nil means a
	// client with a 30 s timeout. Redirects are never followed on token and
	// revocation requests, whatever its CheckRedirect says.
	HTTP *http.Client
	// Now is the clock for token expiry. nil means time.Now.
	Now func() time.Time
	// Logger receives debug events with identifiers only (client_id,
	// endpoint, grant type, status, scopes), never a token, code, verifier,
	// state or response body. nil discards.
	Logger *slog.Logger
	// ExtraAuthParams are added to the authorization URL, for provider
	// quirks such as Auth0's audience or Google's access_type=offline. They
	// may not set a parameter this package controls, or repeat one.
	ExtraAuthParams url.Values
	// ClientSecret makes this a confidential client: it authenticates
	// every token, revocation and device request, as AuthMethod says.
	// Zero for the usual public client.
	ClientSecret secret.Value
	// AuthMethod is how a client with a secret authenticates
	// (client_secret_basic, client_secret_post or none): a dynamic
	// registration's token_endpoint_auth_method. "" chooses from the
	// metadata's token_endpoint_auth_methods_supported (see authMethod in
	// token.go).
	AuthMethod string
	// ClientKey makes this a confidential client that authenticates with
	// private_key_jwt (RFC 7523 §2.2): the PEM private key (see
	// ParseClientKey). It takes the place of ClientSecret; zero for none.
	ClientKey secret.Value
	// DPoPMode is when token requests carry a DPoP proof (RFC 9449):
	// DPoPAuto ("" too) when the metadata lists
	// dpop_signing_alg_values_supported, DPoPOn always (a server without
	// DPoP is refused), DPoPOff never.
	DPoPMode string
	// DPoP holds the key proofs are signed with (generated at the first
	// token request that uses DPoP, if it has none) and the server's
	// nonces. Nil: no proofs, whatever DPoPMode says, unless DPoPMode is
	// DPoPOn, which then fails.
	DPoP *dpop.Signer
}

func defaultHTTPClient() *http.Client { return &http.Client{Timeout: defaultTimeout} }

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTPClient()
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) log() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// reservedParams are authorization request parameters ExtraAuthParams may
// not touch.
var reservedParams = map[string]bool{
	"response_type": true, "client_id": true, "redirect_uri": true, "scope": true, "state": true,
	"code_challenge": true, "code_challenge_method": true, "resource": true,
	"code_verifier": true, "code": true, "request": true, "request_uri": true, "response_mode": true,
}

// check validates the fields every request needs and returns the metadata.
func (c *Client) check() (*Metadata, error) {
	if c.ClientID == "" {
		return nil, fmt.Errorf("%w: ClientID is empty", ErrConfig)
	}
	if c.Metadata == nil {
		return nil, fmt.Errorf("%w: Metadata is nil", ErrConfig)
	}
	if err := c.Metadata.validate(); err != nil {
		return nil, err
	}
	if err := checkResource(c.Resource); err != nil {
		return nil, err
	}
	return c.Metadata, nil
}

// checkResource: RFC 8707 §2, an absolute URI without a fragment.
func checkResource(r string) error {
	if r == "" {
		return nil
	}
	u, err := url.Parse(r)
	if err != nil || !u.IsAbs() || strings.Contains(r, "#") {
		return fmt.Errorf("%w: Resource must be an absolute URI without a fragment", ErrConfig)
	}
	return nil
}

// checkExtra refuses extra authorization parameters that would override or
// repeat ours.
func (c *Client) checkExtra() error {
	for k, vs := range c.ExtraAuthParams {
		if reservedParams[k] || len(vs) != 1 {
			return fmt.Errorf("%w: ExtraAuthParams may not set %q or repeat a parameter", ErrConfig, sanitize(k, 64))
		}
	}
	return nil
}
