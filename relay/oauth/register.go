package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// DefaultRedirectURI is the redirect URI registered when a
// RegistrationRequest names none: the zero Callback's RedirectURI. It has
// no port: RFC 8252 §7.3 has the server accept a loopback redirect on any
// port, and the built-in server does.
const DefaultRedirectURI = "http://" + DefaultCallbackHost + DefaultCallbackPath

// DeviceCodeGrantType is the RFC 8628 grant type.
const DeviceCodeGrantType = "urn:ietf:params:oauth:grant-type:device_code"

// maxClientIDLen caps a client_id from a registration response.
const maxClientIDLen = 1024

// RegistrationRequest is what Register asks for. Register always sends
// application_type native, token_endpoint_auth_method none, response_types
// [code] and grant_types [authorization_code, refresh_token].
type RegistrationRequest struct {
	// ClientName is shown on the server's consent page.
	ClientName string
	// RedirectURIs default to []string{DefaultRedirectURI}. Set one with a
	// port for servers that demand an exact redirect URI, and use
	// Callback.RedirectURI for another host or path.
	RedirectURIs []string
	// Scopes, when set, are sent as scope: the scopes the client may use.
	Scopes []string
	// DeviceGrant also asks for the device_code grant (RFC 8628).
	DeviceGrant bool
}

// Registration is the server's answer to a dynamic client registration
// (RFC 7591 §3.2.1). It prints no secret.
type Registration struct {
	ClientID string
	// ClientSecret is zero for a public client, which is what Register
	// asks for; a server may issue one anyway.
	ClientSecret secret.Value
	// ClientIDIssuedAt is zero when the server did not say.
	ClientIDIssuedAt time.Time
	// ClientSecretExpiresAt is zero when there is no secret or it never
	// expires.
	ClientSecretExpiresAt time.Time
	// RegistrationAccessToken and RegistrationClientURI are for RFC 7592
	// client management; zero when the server does not support it.
	RegistrationAccessToken secret.Value
	RegistrationClientURI   string
	// The metadata the server accepted, which may differ from the request.
	RedirectURIs            []string
	GrantTypes              []string
	TokenEndpointAuthMethod string
}

// registrationJSON is the request body and the response, in one.
type registrationJSON struct {
	RedirectURIs            []string    `json:"redirect_uris,omitempty"`
	TokenEndpointAuthMethod string      `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string    `json:"grant_types,omitempty"`
	ResponseTypes           []string    `json:"response_types,omitempty"`
	ClientName              string      `json:"client_name,omitempty"`
	Scope                   string      `json:"scope,omitempty"`
	ApplicationType         string      `json:"application_type,omitempty"`
	ClientID                string      `json:"client_id,omitempty"`
	ClientSecret            string      `json:"client_secret,omitempty"`
	ClientIDIssuedAt        json.Number `json:"client_id_issued_at,omitempty"`
	ClientSecretExpiresAt   json.Number `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string      `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string      `json:"registration_client_uri,omitempty"`
	Error                   string      `json:"error,omitempty"`
	ErrorDescription        string      `json:"error_description,omitempty"`
}

// Register registers a native public client at md's registration endpoint
// (RFC 7591). hc may be nil; redirects are never followed. A refusal is an
// *Error (invalid_redirect_uri, invalid_client_metadata, ...); no endpoint
// is ErrNoRegistration. The caller stores the result keyed by issuer, and
// registers again once when a later request fails with ErrInvalidClient.
func Register(ctx context.Context, hc *http.Client, md *Metadata, req RegistrationRequest) (*Registration, error) {
	if md == nil {
		return nil, fmt.Errorf("%w: Metadata is nil", ErrConfig)
	}
	if md.RegistrationEndpoint == "" {
		return nil, ErrNoRegistration
	}
	body, err := registrationBody(req)
	if err != nil {
		return nil, err
	}
	if hc == nil {
		hc = defaultHTTPClient()
	}
	status, resp, err := postJSON(ctx, hc, md.RegistrationEndpoint, body)
	if err != nil {
		return nil, err
	}
	return decodeRegistration(status, resp)
}

// registrationBody builds the client metadata to send.
func registrationBody(req RegistrationRequest) ([]byte, error) {
	redirects := req.RedirectURIs
	if len(redirects) == 0 {
		redirects = []string{DefaultRedirectURI}
	}
	for _, r := range redirects {
		if u, err := url.Parse(r); err != nil || !u.IsAbs() || strings.Contains(r, "#") {
			return nil, fmt.Errorf("%w: redirect URI %q is not an absolute URI without a fragment", ErrConfig, sanitize(r, 256))
		}
	}
	grants := []string{"authorization_code", "refresh_token"}
	if req.DeviceGrant {
		grants = append(grants, DeviceCodeGrantType)
	}
	return json.Marshal(registrationJSON{
		RedirectURIs: redirects, TokenEndpointAuthMethod: "none", GrantTypes: grants,
		ResponseTypes: []string{"code"}, ClientName: req.ClientName,
		Scope: strings.Join(req.Scopes, " "), ApplicationType: "native",
	})
}

// postJSON POSTs a JSON body without following redirects and reads at most
// 1 MiB of the answer.
func postJSON(ctx context.Context, hc *http.Client, endpoint string, body []byte) (int, []byte, error) {
	if _, err := secureURL(endpoint); err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("oauth: POST %s: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := noRedirectClient(hc).Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("oauth: POST %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return 0, nil, fmt.Errorf("%w: %s answered %d", ErrRedirect, endpoint, resp.StatusCode)
	}
	b, err := readCapped(resp)
	if err != nil {
		return 0, nil, fmt.Errorf("oauth: POST %s: %w", endpoint, err)
	}
	return resp.StatusCode, b, nil
}

// decodeRegistration parses a registration answer. It never puts body
// content in an error, except a sanitised OAuth error code and description.
func decodeRegistration(status int, body []byte) (*Registration, error) {
	var rj registrationJSON
	if err := json.Unmarshal(body, &rj); err != nil {
		return nil, fmt.Errorf("%w: registration answered HTTP %d, not the expected JSON object", ErrBadResponse, status)
	}
	if status != http.StatusCreated && status != http.StatusOK {
		if rj.Error != "" {
			return nil, newError(rj.Error, rj.ErrorDescription)
		}
		return nil, fmt.Errorf("%w: registration answered HTTP %d without an OAuth error", ErrBadResponse, status)
	}
	return rj.registration()
}

// registration validates a success and converts the secrets at once.
func (rj *registrationJSON) registration() (*Registration, error) {
	if rj.ClientID == "" || len(rj.ClientID) > maxClientIDLen || printableASCII(rj.ClientID) != rj.ClientID {
		return nil, fmt.Errorf("%w: registration has no client_id, or one that is not printable ASCII", ErrBadResponse)
	}
	if rj.RegistrationClientURI != "" {
		if _, err := secureURL(rj.RegistrationClientURI); err != nil {
			return nil, fmt.Errorf("%w: registration_client_uri: %w", ErrBadResponse, err)
		}
	}
	issued, err1 := unixTime(rj.ClientIDIssuedAt)
	expires, err2 := unixTime(rj.ClientSecretExpiresAt)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: client_id_issued_at or client_secret_expires_at is not a time", ErrBadResponse)
	}
	return &Registration{
		ClientID: rj.ClientID, ClientSecret: secret.New(rj.ClientSecret),
		ClientIDIssuedAt: issued, ClientSecretExpiresAt: expires,
		RegistrationAccessToken: secret.New(rj.RegistrationAccessToken), RegistrationClientURI: rj.RegistrationClientURI,
		RedirectURIs: rj.RedirectURIs, GrantTypes: rj.GrantTypes, TokenEndpointAuthMethod: rj.TokenEndpointAuthMethod,
	}, nil
}

// unixTime reads seconds since the epoch; absent or 0 is the zero time.
func unixTime(n json.Number) (time.Time, error) {
	if n == "" {
		return time.Time{}, nil
	}
	s, err := n.Int64()
	if err != nil || s < 0 || s > 1<<40 {
		return time.Time{}, ErrBadResponse
	}
	if s == 0 {
		return time.Time{}, nil
	}
	return time.Unix(s, 0).UTC(), nil
}
