package bearer

import "errors"

var (
	// ErrNoToken means the request carried no Authorization header.
	ErrNoToken = errors.New("bearer: no token")
	// ErrMalformedHeader means an Authorization header was present but was
	// not a single "Bearer <token>" value.
	ErrMalformedHeader = errors.New("bearer: malformed authorization header")
	// ErrInvalidToken means the token failed validation. The wrapped error
	// says why; it never contains the token.
	ErrInvalidToken = errors.New("bearer: invalid token")
	// ErrConfig means a Validator was configured unsafely or incompletely.
	ErrConfig = errors.New("bearer: bad configuration")
)

// invalid wraps a reason as an ErrInvalidToken. Reasons are fixed strings or
// library errors about structure; they never include token bytes.
func invalid(reason string) error {
	return &TokenError{Reason: reason}
}

// TokenError is an ErrInvalidToken with a reason that is safe to log and to
// send as error_description.
type TokenError struct {
	Reason string
}

func (e *TokenError) Error() string { return "bearer: invalid token: " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalidToken) true.
func (e *TokenError) Unwrap() error { return ErrInvalidToken }
