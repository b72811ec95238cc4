package oauth

import (
	"context"
	"errors"
	"strings"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// Errors returned by this package. Callers test them with errors.Is; the
// wrapping message adds context but never a token, code or verifier.
var (
	// ErrNoPKCE means the server does not advertise PKCE with S256 (C1).
	ErrNoPKCE = errors.New("oauth: authorization server does not support PKCE with S256")
	// ErrIssuerMismatch means metadata or an authorization response names
	// another issuer than the one configured (C2, C8).
	ErrIssuerMismatch = errors.New("oauth: issuer mismatch")
	// ErrInsecureURL means a URL is not https and not on a loopback host.
	ErrInsecureURL = errors.New("oauth: URL must use https unless its host is loopback")
	// ErrRedirect means a metadata fetch was redirected to another host or
	// to an insecure URL, or a token endpoint answered with a redirect.
	ErrRedirect = errors.New("oauth: redirect refused")
	// ErrTooLarge means a response body was over 1 MiB.
	ErrTooLarge = errors.New("oauth: response body over 1 MiB")
	// ErrNoMetadata means no discovery URL served metadata.
	ErrNoMetadata = errors.New("oauth: no authorization server metadata found")
	// ErrBadMetadata means a metadata document (authorization server or
	// protected resource) is malformed or incomplete.
	ErrBadMetadata = errors.New("oauth: malformed authorization server metadata")
	// ErrBadResponse means a token or revocation response is malformed:
	// not JSON, no access_token, a token_type other than Bearer (C14).
	ErrBadResponse = errors.New("oauth: malformed response from the authorization server")
	// ErrBadCallback means the authorization response that carried the
	// right state was malformed (both code and error, or no code).
	ErrBadCallback = errors.New("oauth: malformed authorization response")
	// ErrInvalidGrant is wrapped by an *Error whose code is invalid_grant:
	// the code or refresh token is no longer valid, so log in again (C16).
	ErrInvalidGrant = errors.New("oauth: invalid_grant")
	// ErrAccessDenied is wrapped by an *Error whose code is access_denied:
	// the user (or the server) refused the request (C5).
	ErrAccessDenied = errors.New("oauth: access denied")
	// ErrLoginTimeout means the context ended before the browser came back.
	ErrLoginTimeout = errors.New("oauth: login timed out")
	// ErrNoRefreshToken means Refresh was called without a refresh token.
	ErrNoRefreshToken = errors.New("oauth: no refresh token")
	// ErrNoRevocation means the server has no revocation endpoint.
	ErrNoRevocation = errors.New("oauth: server has no revocation endpoint")
	// ErrConfig means a Client field is missing or unusable.
	ErrConfig = errors.New("oauth: bad client configuration")
	// ErrInvalidClient is wrapped by an *Error whose code is
	// invalid_client: the server does not know the client_id (a stale
	// dynamic registration, say). Register again once, never in a loop.
	ErrInvalidClient = errors.New("oauth: invalid_client")
	// ErrNoRegistration means the server has no registration endpoint.
	ErrNoRegistration = errors.New("oauth: server has no registration endpoint")
	// ErrResourceMismatch means a protected resource metadata document
	// names another resource than the one asked for (RFC 9728 §3.3).
	ErrResourceMismatch = errors.New("oauth: protected resource mismatch")
	// ErrNoResourceMetadata means no URL served protected resource
	// metadata, or the document lists no usable authorization server.
	ErrNoResourceMetadata = errors.New("oauth: no protected resource metadata found")
	// ErrNoDevice means the server has no device authorization endpoint.
	ErrNoDevice = errors.New("oauth: server has no device authorization endpoint")
	// ErrDeviceExpired is wrapped when a device code expired before the
	// user answered, locally or by an *Error whose code is expired_token.
	ErrDeviceExpired = errors.New("oauth: device code expired")
)

// Limits on text that comes from the server and may reach a log or a user.
const (
	maxCodeLen = 64
	maxDescLen = 200
)

// Error is an OAuth error response (RFC 6749 §4.1.2.1 and §5.2), from the
// callback or from the token or revocation endpoint. Code and Description
// are sanitised: printable ASCII only, length-capped, and with any secret
// the request carried replaced by REDACTED. errors.Is(err, ErrInvalidGrant)
// errors.Is(err, ErrAccessDenied), errors.Is(err, ErrInvalidClient) and
// errors.Is(err, ErrDeviceExpired) work through Unwrap.
type Error struct {
	Code        string
	Description string
}

func (e *Error) Error() string {
	s := "oauth: authorization server returned " + e.Code
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// Unwrap maps well-known codes to this package's sentinels.
func (e *Error) Unwrap() error {
	switch e.Code {
	case "invalid_grant":
		return ErrInvalidGrant
	case "access_denied":
		return ErrAccessDenied
	case "invalid_client":
		return ErrInvalidClient
	case "expired_token":
		return ErrDeviceExpired
	}
	return nil
}

// newError builds a sanitised *Error. secrets are values this request sent
// (a code, a verifier, a refresh token) that a careless or hostile server
// might echo back.
func newError(code, desc string, secrets ...secret.Value) *Error {
	return &Error{Code: sanitize(code, maxCodeLen, secrets...), Description: sanitize(desc, maxDescLen, secrets...)}
}

// sanitize keeps printable ASCII only, then replaces every non-empty
// secret with REDACTED, then caps the length at n bytes. Filtering first
// means a secret split by control or non-ASCII bytes is still caught.
func sanitize(s string, n int, secrets ...secret.Value) string {
	s = printableASCII(s)
	for _, v := range secrets {
		if p := printableASCII(v.Reveal()); p != "" {
			s = strings.ReplaceAll(s, p, secret.Redacted)
		}
	}
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// printableASCII drops every byte outside 0x20..0x7e.
func printableASCII(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// transportReason says in plain words why a request to the authorization
// server got no answer, for the person who reads the error: it did not
// answer in time (the client's timeout or the context's deadline, which
// ever came first), or it is unreachable (refused, reset, or a connection
// closed under the request: all mean the same to the person).
func transportReason(err error) string {
	var t interface{ Timeout() bool }
	switch {
	case errors.Is(err, context.Canceled):
		return "the request to the authorization server was cancelled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &t) && t.Timeout():
		return "the authorization server did not answer in time"
	}
	return "the authorization server is unreachable"
}
