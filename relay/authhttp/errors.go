package authhttp

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/oauth"
)

// ErrNoCachedToken ends a Probe request when no usable token is held.
var ErrNoCachedToken = errors.New("authhttp: no usable cached token")

// AuthError is a 401 or 403 the policy could not cure: the retry after a
// new token or a step-up still got it, or the request's mode allowed no
// sign-in.
type AuthError struct {
	Status    int
	Challenge oauth.Challenge
	// Peer names the resource in texts: "backend", "MCP server".
	Peer string
	// NoDPoP: the token went with the DPoP scheme, and the 401 has no
	// DPoP challenge: the resource does not take DPoP-bound tokens
	// although its authorization server binds them (RELAY_DPOP=auto).
	NoDPoP bool
}

func (e *AuthError) Error() string {
	s := "authhttp: the " + e.peer() + " answered " + strconv.Itoa(e.Status)
	if e.Challenge.Error != "" {
		s += " (" + secret.Scrub(e.Challenge.Error, 40) + ")"
	}
	return s
}

// UserText is what the person sees.
func (e *AuthError) UserText() string {
	if e.Status == http.StatusUnauthorized && e.NoDPoP {
		return "the " + e.peer() + " does not take DPoP-bound tokens (its answer has no DPoP challenge), which its authorization server issues; " +
			"set RELAY_DPOP=off, then run `relay login --force`"
	}
	if e.Status == http.StatusUnauthorized {
		return "the " + e.peer() + " refused the token even after a refresh; run `relay login` or try again"
	}
	return "the " + e.peer() + " refused access (" + secret.Scrub(e.Challenge.Error, 40) + "); your account may lack the permission"
}

// InsufficientScope reports whether this is a 403 insufficient_scope.
func (e *AuthError) InsufficientScope() bool {
	return e.Status == http.StatusForbidden && e.Challenge.Error == "insufficient_scope"
}

func (e *AuthError) peer() string {
	if e.Peer == "" {
		return "server"
	}
	return e.Peer
}

// SignInError is a failure to get a token: the sign-in, the refresh or the
// vault failed. Err is the broker's error.
type SignInError struct{ Err error }

func (e *SignInError) Error() string { return e.Err.Error() }
func (e *SignInError) Unwrap() error { return e.Err }

// UserText is the broker's own text for the person (a pending sign-in
// names the URL to open), or its error, scrubbed.
func (e *SignInError) UserText() string {
	var t interface{ UserText() string }
	if errors.As(e.Err, &t) {
		return t.UserText()
	}
	return secret.Scrub(e.Err.Error(), 500)
}
