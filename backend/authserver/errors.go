package authserver

import "errors"

// Configuration errors returned by New, NewUser, ParseUsers and
// LoadOrCreateKey. They are wrapped with details that never include a
// password or key material.
var (
	// ErrConfig means a Config field is missing or unsafe.
	ErrConfig = errors.New("authserver: bad configuration")
	// ErrShortSecret means HMACSecret is set but shorter than 32 bytes. An
	// empty HMAC key verifies HS256 tokens in golang-jwt: short secrets are
	// refused, and an empty HMACSecret selects ES256.
	ErrShortSecret = errors.New("authserver: HMAC secret shorter than 32 bytes")
	// ErrUserSpec means a user or a users specification is malformed.
	ErrUserSpec = errors.New("authserver: bad user specification")
	// ErrKeyFile means a signing key file is unreadable, unsafe or not P-256.
	ErrKeyFile = errors.New("authserver: bad signing key file")
)

// oauthError is an OAuth error response (RFC 6749 §4.1.2.1 and §5.2).
// Descriptions are fixed strings: they never echo request input.
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	status      int
}

func (e *oauthError) Error() string { return "authserver: " + e.Code + ": " + e.Description }

func oerr(code, desc string) *oauthError {
	return &oauthError{Code: code, Description: desc, status: 400}
}

var (
	errRepeated         = oerr("invalid_request", "a parameter is repeated")
	errInvalidGrant     = oerr("invalid_grant", "the grant is invalid, expired, revoked or was issued to another client")
	errUnsupportedGrant = oerr("unsupported_grant_type", "supported grant types: authorization_code, refresh_token, device_code")
	errInvalidTarget    = oerr("invalid_target", "resource must be an absolute URI without fragment, allowed by this server and granted")
	errInvalidScope     = oerr("invalid_scope", "a requested scope is unknown or not allowed for this client")
	errInvalidClient    = &oauthError{Code: "invalid_client", Description: "unknown client", status: 401}
	errUnauthorized     = oerr("unauthorized_client", "this client may not use this grant type")
	errServer           = &oauthError{Code: "server_error", Description: "internal error", status: 500}
	errBusy             = &oauthError{Code: "temporarily_unavailable", Description: "too many pending requests, try again later", status: 503}
)

func invalidRequest(desc string) *oauthError { return oerr("invalid_request", desc) }
