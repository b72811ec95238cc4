package forward

import (
	"errors"
	"strconv"
)

// ErrBackend is wrapped by every *BackendError.
var ErrBackend = errors.New("forward: backend failed")

// AuthError is a 401 or 403 from the backend, with its challenge.
type AuthError struct {
	Status    int
	Challenge Challenge
}

func (e *AuthError) Error() string {
	s := "forward: backend answered " + strconv.Itoa(e.Status)
	if e.Challenge.Error != "" {
		s += " (" + Sanitize(e.Challenge.Error, 40) + ")"
	}
	return s
}

// InsufficientScope reports whether this is a 403 insufficient_scope.
func (e *AuthError) InsufficientScope() bool {
	return e.Status == 403 && e.Challenge.Error == "insufficient_scope"
}

// BackendError is any other failure. Reason is safe to show the user.
type BackendError struct {
	Status int // 0 when no HTTP answer came
	Reason string
	cause  error
}

func (e *BackendError) Error() string { return "forward: " + e.Reason }

// Unwrap returns ErrBackend and the transport cause, if any.
func (e *BackendError) Unwrap() []error {
	if e.cause != nil {
		return []error{ErrBackend, e.cause}
	}
	return []error{ErrBackend}
}
