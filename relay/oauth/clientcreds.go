package oauth

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/keyrelay/keyrelay/internal/clientauth"
)

// AssertionType is the client_assertion_type of private_key_jwt (RFC 7523
// §2.2).
const AssertionType = clientauth.AssertionType

// AssertionLifetime is how long a client assertion is valid: it is made
// for one request.
const AssertionLifetime = clientauth.Lifetime

// ErrClientKey means the client's private key is unusable. Its errors
// never hold key material.
var ErrClientKey = clientauth.ErrKey

// ClientKey is a parsed private_key_jwt key and the one algorithm it
// signs with.
type ClientKey = clientauth.Key

// ParseClientKey reads a PEM private key (PKCS #8, or the SEC 1 "EC
// PRIVATE KEY" and PKCS #1 "RSA PRIVATE KEY" forms): EC P-256 signs with
// ES256, RSA of at least 2048 bits with RS256, Ed25519 with EdDSA. Any
// other key is refused.
func ParseClientKey(pemBytes []byte) (*ClientKey, error) { return clientauth.ParseKey(pemBytes) }

// assertion signs a fresh client assertion for one request to endpoint
// (RFC 7523 §2.2 and §3): iss = sub = the client id; aud = the issuer
// identifier, as draft-ietf-oauth-rfc7523bis requires (the token endpoint
// as audience lets one server replay an assertion at another, and the
// MCP conformance suite checks the issuer); a short exp; a random jti, so
// the server can refuse a replay. The algorithm is the key's, and must be
// in the metadata's token_endpoint_auth_signing_alg_values_supported when
// the server publishes that list.
func (c *Client) assertion(endpoint string) (string, error) {
	k, err := ParseClientKey([]byte(c.ClientKey.Reveal()))
	if err != nil {
		return "", err
	}
	var algs []string
	aud := endpoint
	if c.Metadata != nil {
		algs = c.Metadata.TokenEndpointAuthSigningAlgValuesSupported
		if c.Metadata.Issuer != "" {
			aud = c.Metadata.Issuer
		}
	}
	if len(algs) > 0 && !slices.Contains(algs, k.Alg) {
		return "", fmt.Errorf("%w: the key signs with %s, but the server accepts only %s", ErrClientKey, k.Alg, sanitize(strings.Join(algs, " "), 120))
	}
	return clientauth.Assertion(k, c.ClientID, aud, c.now())
}

// ClientCredentials asks for a token with the client_credentials grant
// (OAuth 2.1 §4.2; SEP-1046): no person, the client authenticates with
// its secret or key, as authMethod says. scope is Scopes, resource is
// Resource. No refresh token is expected: when the token expires, ask
// again.
func (c *Client) ClientCredentials(ctx context.Context) (*Tokens, error) {
	if _, err := c.check(); err != nil {
		return nil, err
	}
	if c.ClientSecret.IsZero() && c.ClientKey.IsZero() {
		return nil, fmt.Errorf("%w: the client_credentials grant needs a client secret or key", ErrConfig)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}}
	if len(c.Scopes) > 0 {
		form.Set("scope", strings.Join(c.Scopes, " "))
	}
	if c.Resource != "" {
		form.Set("resource", c.Resource)
	}
	return c.token(ctx, form, c.Scopes)
}
