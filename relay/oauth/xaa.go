package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// Cross-app access (SEP-990, "enterprise-managed authorization"): the
// person's ID token from the enterprise identity provider is exchanged
// there for an ID-JAG (an identity assertion JWT authorization grant,
// RFC 8693 token exchange), which the MCP server's authorization server
// takes in the jwt-bearer grant (RFC 7523 §2.1) for an access token.
const (
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	GrantJWTBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	TokenTypeIDToken   = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeIDJAG     = "urn:ietf:params:oauth:token-type:id-jag"
)

// ErrBadIDToken means an ID token is not a JWT with the claims the relay
// reads, or has expired. Its errors never hold the token.
var ErrBadIDToken = errors.New("oauth: unusable ID token")

// Grant is an ID-JAG from a token exchange: the assertion, and when it
// expires (zero when unknown).
type Grant struct {
	Assertion secret.Value
	Expiry    time.Time
}

// ExchangeIDToken trades an ID token for an ID-JAG at the identity
// provider whose client c is (RFC 8693 §2.1; SEP-990): grant_type
// token-exchange, subject_token_type id_token, requested_token_type
// id-jag, audience = the MCP authorization server's issuer, resource =
// the MCP server, scope = c.Scopes when set. The request goes through the
// one token request path (postForm): c's client authentication, no
// redirects, 1 MiB cap, the secrets sent scrubbed from any error.
func (c *Client) ExchangeIDToken(ctx context.Context, idToken secret.Value, audience, resource string) (*Grant, error) {
	if _, err := c.check(); err != nil {
		return nil, err
	}
	if idToken.IsZero() || audience == "" {
		return nil, fmt.Errorf("%w: a token exchange needs an ID token and an audience", ErrConfig)
	}
	form := url.Values{
		"grant_type":           {GrantTokenExchange},
		"requested_token_type": {TokenTypeIDJAG},
		"subject_token":        {idToken.Reveal()},
		"subject_token_type":   {TokenTypeIDToken},
		"audience":             {audience},
		"client_id":            {c.ClientID},
	}
	if resource != "" {
		form.Set("resource", resource)
	}
	if len(c.Scopes) > 0 {
		form.Set("scope", strings.Join(c.Scopes, " "))
	}
	log := c.log().With("client_id", c.ClientID, "grant_type", GrantTokenExchange)
	log.Debug("oauth: token exchange", "endpoint", c.Metadata.TokenEndpoint, "audience", audience, "resource", resource)
	status, body, err := c.postForm(ctx, c.Metadata.TokenEndpoint, form)
	if err != nil {
		return nil, err
	}
	g, err := decodeExchange(status, body, c.now(), idToken, c.ClientSecret)
	if err != nil {
		log.Debug("oauth: token exchange refused", "status", status, "err", err)
		return nil, err
	}
	log.Debug("oauth: token exchange answered", "status", status, "expiry", g.Expiry)
	return g, nil
}

// decodeExchange parses a token exchange answer (RFC 8693 §2.2): an
// access_token that is a JWT, issued_token_type id-jag. token_type is
// N_A for a token that is not an access token, and is not checked.
func decodeExchange(status int, body []byte, now time.Time, sent ...secret.Value) (*Grant, error) {
	var r struct {
		AccessToken      string      `json:"access_token"`
		IssuedTokenType  string      `json:"issued_token_type"`
		ExpiresIn        json.Number `json:"expires_in"`
		Error            string      `json:"error"`
		ErrorDescription string      `json:"error_description"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%w: HTTP %d, body is not the expected JSON object", ErrBadResponse, status)
	}
	switch {
	case r.Error != "" && (status != http.StatusOK || r.AccessToken == ""):
		return nil, newError(r.Error, r.ErrorDescription, sent...)
	case status != http.StatusOK:
		return nil, fmt.Errorf("%w: HTTP %d without an OAuth error", ErrBadResponse, status)
	case r.IssuedTokenType != TokenTypeIDJAG:
		return nil, fmt.Errorf("%w: issued_token_type %q, want %s", ErrBadResponse, sanitize(r.IssuedTokenType, 80), TokenTypeIDJAG)
	case strings.Count(r.AccessToken, ".") != 2:
		return nil, fmt.Errorf("%w: the ID-JAG is not a JWT", ErrBadResponse)
	}
	exp, err := expiryOf(r.ExpiresIn, now)
	if err != nil {
		return nil, err
	}
	if exp.IsZero() {
		if c, err := PeekClaims(secret.New(r.AccessToken)); err == nil {
			exp = c.Expiry
		}
	}
	return &Grant{Assertion: secret.New(r.AccessToken), Expiry: exp}, nil
}

// JWTBearer presents an assertion (an ID-JAG) at c's token endpoint with
// the jwt-bearer grant (RFC 7523 §2.1), authenticated as c authenticates
// (client_secret_basic, client_secret_post or private_key_jwt), with
// c.Scopes and c.Resource. The assertion is scrubbed from any error.
func (c *Client) JWTBearer(ctx context.Context, assertion secret.Value) (*Tokens, error) {
	if _, err := c.check(); err != nil {
		return nil, err
	}
	if assertion.IsZero() {
		return nil, fmt.Errorf("%w: the jwt-bearer grant needs an assertion", ErrConfig)
	}
	form := url.Values{"grant_type": {GrantJWTBearer}, "assertion": {assertion.Reveal()}, "client_id": {c.ClientID}}
	if len(c.Scopes) > 0 {
		form.Set("scope", strings.Join(c.Scopes, " "))
	}
	if c.Resource != "" {
		form.Set("resource", c.Resource)
	}
	return c.token(ctx, form, c.Scopes, assertion)
}

// Claims are the claims of a JWT the relay reads without verifying it:
// to know when an ID token expires, and to name its issuer and subject
// in errors and in `relay status`. The relay makes no security decision
// on them; the server that receives the token verifies it.
type Claims struct {
	Issuer   string
	Subject  string
	Audience []string
	Expiry   time.Time // zero when the token has no exp
}

// PeekClaims reads iss, sub, aud and exp of a JWT without verifying its
// signature. Errors wrap ErrBadIDToken and never hold the token.
func PeekClaims(tok secret.Value) (*Claims, error) {
	parts := strings.Split(strings.TrimSpace(tok.Reveal()), ".")
	if len(parts) != 3 || len(parts[1]) > 64<<10 {
		return nil, fmt.Errorf("%w: not a JWT (three base64url parts)", ErrBadIDToken)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, fmt.Errorf("%w: its payload is not base64url", ErrBadIDToken)
	}
	var raw struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp json.Number     `json:"exp"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: its payload is not a JSON object with the registered claims", ErrBadIDToken)
	}
	c := &Claims{Issuer: sanitize(raw.Iss, 256), Subject: sanitize(raw.Sub, 256)}
	var one string
	if json.Unmarshal(raw.Aud, &one) == nil {
		c.Audience = []string{one}
	} else {
		_ = json.Unmarshal(raw.Aud, &c.Audience)
	}
	if raw.Exp != "" {
		f, err := raw.Exp.Float64()
		if err != nil || f < 0 || f > 1<<40 {
			return nil, fmt.Errorf("%w: exp is not a time", ErrBadIDToken)
		}
		c.Expiry = time.Unix(int64(f), 0)
	}
	return c, nil
}
