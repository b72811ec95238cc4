package oauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyrelay/keyrelay/internal/dpop"
	"github.com/keyrelay/keyrelay/internal/secret"
)

// Tokens is the result of a code exchange or a refresh. It prints no
// secret: the tokens are secret.Value.
type Tokens struct {
	AccessToken  secret.Value
	RefreshToken secret.Value // zero when the server issued none
	IDToken      secret.Value // an OpenID Connect ID token, when the server sent one
	TokenType    string       // "Bearer" or "DPoP", whatever case the server used
	Scopes       []string     // granted, or the requested ones if the response named none
	Expiry       time.Time    // absolute, by the Client's clock; zero when unknown
	// DPoPKey is the key the tokens are bound to (token_type DPoP), nil
	// for bearer tokens. The caller keeps it with them.
	DPoPKey *dpop.Key
}

// maxExpiresIn caps expires_in (ten years) so Expiry cannot overflow.
const maxExpiresIn = 10 * 365 * 24 * 3600

// tokenJSON is RFC 6749 §5.1 and §5.2 in one: a 200 without access_token
// but with error is an error too.
type tokenJSON struct {
	AccessToken      string      `json:"access_token"`
	TokenType        string      `json:"token_type"`
	RefreshToken     string      `json:"refresh_token"`
	IDToken          string      `json:"id_token"`
	ExpiresIn        json.Number `json:"expires_in"`
	Scope            string      `json:"scope"`
	Error            string      `json:"error"`
	ErrorDescription string      `json:"error_description"`
}

// token posts form to the token endpoint and decodes the answer. sent are
// the secrets in form, to scrub from any error description; the client
// secret postForm adds is scrubbed too, also when the server JSON-escaped
// it (the raw scrub in postForm only sees it verbatim).
func (c *Client) token(ctx context.Context, form url.Values, requested []string, sent ...secret.Value) (*Tokens, error) {
	sent = append(sent[:len(sent):len(sent)], c.ClientSecret)
	gt := form.Get("grant_type")
	log := c.log().With("client_id", c.ClientID, "grant_type", gt)
	log.Debug("oauth: token request", "endpoint", c.Metadata.TokenEndpoint, "resource", form.Get("resource"))
	signer, err := c.dpopSigner()
	if err != nil {
		return nil, err
	}
	tok, status, fresh, err := c.tokenOnce(ctx, form, requested, signer, sent)
	var oe *Error
	if signer != nil && errors.As(err, &oe) && oe.Code == "use_dpop_nonce" && fresh {
		// The server wants its nonce in the proof (RFC 9449 §8): once more.
		log.Debug("oauth: the token endpoint asked for a DPoP nonce; retrying once")
		tok, status, _, err = c.tokenOnce(ctx, form, requested, signer, sent)
	}
	if err != nil {
		log.Debug("oauth: token response refused", "status", status, "err", err)
		return nil, err
	}
	if err := checkTokenType(tok.TokenType, signer != nil); err != nil {
		log.Debug("oauth: token response refused", "status", status, "err", err)
		return nil, err
	}
	if signer != nil {
		tok.DPoPKey = signer.Key()
		log.Debug("oauth: tokens bound to the DPoP key", "jkt", tok.DPoPKey.Thumbprint())
	}
	log.Debug("oauth: token response", "status", status, "scopes", tok.Scopes, "expiry", tok.Expiry, "refresh_token_issued", !tok.RefreshToken.IsZero())
	return tok, nil
}

// tokenOnce sends one token request, with a proof when signer is set.
// fresh reports whether the answer carried a new DPoP-Nonce.
func (c *Client) tokenOnce(ctx context.Context, form url.Values, requested []string, signer *dpop.Signer, sent []secret.Value) (tok *Tokens, status int, fresh bool, err error) {
	var pc *proofCall
	if signer != nil {
		pc = &proofCall{signer: signer}
		ctx = context.WithValue(ctx, proofCall{}, pc)
	}
	status, body, err := c.postForm(ctx, c.Metadata.TokenEndpoint, form)
	if err != nil {
		return nil, 0, false, err
	}
	tok, err = decodeToken(status, body, c.now(), requested, sent...)
	return tok, status, pc != nil && pc.fresh, err
}

// Client authentication methods at the token endpoint (RFC 7591 §2,
// token_endpoint_auth_method; RFC 8414 §2,
// token_endpoint_auth_methods_supported).
const (
	AuthNone  = "none"                // a public client: client_id in the form, no secret
	AuthBasic = "client_secret_basic" // HTTP Basic (RFC 6749 §2.3.1)
	AuthPost  = "client_secret_post"  // client_id and client_secret in the form
	AuthJWT   = "private_key_jwt"     // a signed assertion in the form (RFC 7523 §2.2)
)

// authMethod is how this client authenticates at the token, revocation
// and device authorization endpoints:
//   - no secret: none (a public client);
//   - AuthMethod, when it is one of the three: what the client's
//     registration says (RFC 7591 §3.2.1);
//   - else from the metadata's token_endpoint_auth_methods_supported:
//     client_secret_basic when it is listed or when there is no list (the
//     default of RFC 8414 §2, and the method RFC 6749 §2.3.1 has every
//     server support); client_secret_post when only that is; none when
//     the server names neither but lists none (it takes no secret);
//     otherwise (only methods the relay lacks, such as private_key_jwt)
//     client_secret_basic, which the server will refuse in its words.
func (c *Client) authMethod() string {
	if !c.ClientKey.IsZero() {
		return AuthJWT
	}
	if c.ClientSecret.IsZero() {
		return AuthNone
	}
	switch c.AuthMethod {
	case AuthNone, AuthBasic, AuthPost:
		return c.AuthMethod
	}
	var listed []string
	if c.Metadata != nil {
		listed = c.Metadata.TokenEndpointAuthMethodsSupported
	}
	switch {
	case len(listed) == 0 || slices.Contains(listed, AuthBasic):
		return AuthBasic
	case slices.Contains(listed, AuthPost):
		return AuthPost
	case slices.Contains(listed, AuthNone):
		return AuthNone
	}
	return AuthBasic
}

// postForm POSTs a form without following redirects, and reads at most
// 1 MiB of the answer. A client with a secret authenticates as authMethod
// says: client_secret_basic in the Authorization header, with id and
// secret each form-urlencoded first (RFC 6749 §2.3.1) and no client_id in
// the form; client_secret_post in the form. The secret, in every form it
// was sent, is scrubbed from the answer, so no decoder can echo it.
func (c *Client) postForm(ctx context.Context, endpoint string, form url.Values) (int, []byte, error) {
	if _, err := secureURL(endpoint); err != nil {
		return 0, nil, err
	}
	method := c.authMethod()
	var assertion string
	if method == AuthJWT {
		a, err := c.assertion(endpoint)
		if err != nil {
			return 0, nil, err
		}
		assertion = a
		form.Set("client_id", c.ClientID)
		form.Set("client_assertion_type", AssertionType)
		form.Set("client_assertion", a)
	}
	if method == AuthPost {
		form.Set("client_secret", c.ClientSecret.Reveal())
	}
	if method == AuthBasic {
		form.Del("client_id")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, fmt.Errorf("oauth: POST %s: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	pc, _ := ctx.Value(proofCall{}).(*proofCall)
	if pc != nil {
		if err := setProof(req, pc.signer, endpoint); err != nil {
			return 0, nil, err
		}
	}
	if method == AuthBasic {
		req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret.Reveal()))
	}
	c.log().Debug("oauth: client authentication", "client_id", c.ClientID, "endpoint", endpoint, "method", method)
	resp, err := noRedirectClient(c.httpClient()).Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("oauth: %s: %w", transportReason(err), err)
	}
	defer resp.Body.Close()
	if pc != nil {
		pc.fresh = pc.signer.ObserveToken(endpoint, resp.Header)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return 0, nil, fmt.Errorf("%w: %s answered %d", ErrRedirect, endpoint, resp.StatusCode)
	}
	body, err := readCapped(resp)
	if err != nil && !errors.Is(err, ErrTooLarge) {
		return 0, nil, fmt.Errorf("oauth: %s: POST %s: %w", transportReason(err), endpoint, err)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("oauth: POST %s: %w", endpoint, err)
	}
	body = c.scrubSecret(body)
	if assertion != "" {
		body = bytes.ReplaceAll(body, []byte(assertion), []byte(secret.Redacted))
	}
	return resp.StatusCode, body, nil
}

// scrubSecret replaces the client secret in body: as it is, form-urlencoded
// and as the Basic credentials it went in.
func (c *Client) scrubSecret(body []byte) []byte {
	if c.ClientSecret.IsZero() {
		return body
	}
	sec := c.ClientSecret.Reveal()
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(c.ClientID) + ":" + url.QueryEscape(sec)))
	for _, s := range []string{basic, sec, url.QueryEscape(sec)} {
		body = bytes.ReplaceAll(body, []byte(s), []byte(secret.Redacted))
	}
	return body
}

// decodeToken parses a token endpoint answer (C14). It never puts body
// content in an error, except a sanitised OAuth error code and description.
func decodeToken(status int, body []byte, now time.Time, requested []string, sent ...secret.Value) (*Tokens, error) {
	var tj tokenJSON
	if err := json.Unmarshal(body, &tj); err != nil {
		return nil, fmt.Errorf("%w: HTTP %d, body is not the expected JSON object", ErrBadResponse, status)
	}
	if tj.Error != "" && (status != http.StatusOK || tj.AccessToken == "") {
		return nil, newError(tj.Error, tj.ErrorDescription, sent...)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("%w: HTTP %d without an OAuth error", ErrBadResponse, status)
	}
	return tj.tokens(now, requested)
}

// tokens validates a 200 answer and converts it at once to secret.Value.
func (tj *tokenJSON) tokens(now time.Time, requested []string) (*Tokens, error) {
	if tj.AccessToken == "" {
		return nil, fmt.Errorf("%w: no access_token", ErrBadResponse)
	}
	if !strings.EqualFold(tj.TokenType, "Bearer") && !strings.EqualFold(tj.TokenType, "DPoP") {
		return nil, fmt.Errorf("%w: token_type %q is not Bearer or DPoP", ErrBadResponse, sanitize(tj.TokenType, 32))
	}
	expiry, err := expiryOf(tj.ExpiresIn, now)
	if err != nil {
		return nil, err
	}
	scopes := strings.Fields(tj.Scope)
	if tj.Scope == "" {
		scopes = append([]string(nil), requested...)
	}
	return &Tokens{
		AccessToken: secret.New(tj.AccessToken), RefreshToken: secret.New(tj.RefreshToken), IDToken: secret.New(tj.IDToken),
		TokenType: tj.TokenType, Scopes: scopes, Expiry: expiry,
	}, nil
}

// expiryOf turns expires_in (seconds, a number or a numeric string) into an
// absolute time. Absent means unknown: the zero time.
func expiryOf(n json.Number, now time.Time) (time.Time, error) {
	if n == "" {
		return time.Time{}, nil
	}
	s, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || s < 0 || s > maxExpiresIn {
		return time.Time{}, fmt.Errorf("%w: expires_in is not a whole number of seconds in range", ErrBadResponse)
	}
	return now.Add(time.Duration(s) * time.Second), nil
}
