package dpop

import "errors"

var (
	// ErrInvalidProof means a proof was missing, malformed or did not match
	// the request. The wrapped *ProofError says why, in a fixed text.
	ErrInvalidProof = errors.New("dpop: invalid proof")
	// ErrUseNonce means the proof lacked the server's current nonce: the
	// server answers use_dpop_nonce with a fresh DPoP-Nonce.
	ErrUseNonce = errors.New("dpop: nonce required")
	// ErrKeyMismatch means a valid proof was signed with another key than
	// the one the token is bound to (RFC 9449 §7.1: invalid_token).
	ErrKeyMismatch = errors.New("dpop: proof key does not match the token")
	// ErrKey means a key could not be made, read or used.
	ErrKey = errors.New("dpop: bad key")
)

// ProofError is an ErrInvalidProof (or, for a nonce, ErrUseNonce) with a
// reason that is safe to log and to send as error_description: it is a
// fixed string, never bytes of the proof.
type ProofError struct {
	Reason string
	kind   int
}

const (
	kindProof = iota
	kindNonce
	kindMismatch
)

func (e *ProofError) Error() string { return "dpop: invalid proof: " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalidProof) true; for a missing or
// stale nonce errors.Is(err, ErrUseNonce) too, and for a proof of another
// key errors.Is(err, ErrKeyMismatch).
func (e *ProofError) Unwrap() []error {
	switch e.kind {
	case kindNonce:
		return []error{ErrInvalidProof, ErrUseNonce}
	case kindMismatch:
		return []error{ErrInvalidProof, ErrKeyMismatch}
	}
	return []error{ErrInvalidProof}
}

func invalid(reason string) error { return &ProofError{Reason: reason} }
