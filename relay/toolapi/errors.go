package toolapi

import "errors"

// ErrBackend is wrapped by every *BackendError.
var ErrBackend = errors.New("toolapi: backend failed")

// BackendError is a failure of the backend other than a refused token
// (authhttp.AuthError). Reason is safe to show the person: it never holds
// a token or a raw response body.
type BackendError struct {
	Status int // 0 when no HTTP answer came
	Reason string
	cause  error
}

func (e *BackendError) Error() string { return "toolapi: " + e.Reason }

// UserText is Reason.
func (e *BackendError) UserText() string { return e.Reason }

// Unwrap returns ErrBackend and the transport cause, if any.
func (e *BackendError) Unwrap() []error {
	if e.cause != nil {
		return []error{ErrBackend, e.cause}
	}
	return []error{ErrBackend}
}
