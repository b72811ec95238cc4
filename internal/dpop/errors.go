package dpop

import "errors"

var (
	// ErrInvalidProof means a proof was missing, malformed or did not match
	// the request. The wrapped *ProofError says why, in a fixed text.
	ErrInvalidProof = errors.New("dpop: invalid proof")
	// ErrUseNonce means the proof lacked the server's current nonce: the
	// server answers use_dpop_nonce with a fresh DPoP-Nonce.
	ErrUseNonce = errors.New("dpop: nonce required")
	// ErrKey means a key could not be made, read or used.
	ErrKey = errors.New("dpop: bad key")
)

// ProofError is an ErrInvalidProof (or, for a nonce, ErrUseNonce) with a
// reason that is safe to log and to send as error_description: it is a
// fixed string, never bytes of the proof.
type ProofError struct {
	Reason string
	nonce  bool
}

func (e *ProofError) Error() string { return "dpop: invalid proof: " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalidProof) true, and for a missing or
// stale nonce errors.Is(err, ErrUseNonce) too.
func (e *ProofError) Unwrap() []error {
	if e.nonce {
		return []error{ErrInvalidProof, ErrUseNonce}
	}
	return []error{ErrInvalidProof}
}

func invalid(reason string) error { return &ProofError{Reason: reason} }
