package authserver

import (
	"context"
	"errors"
	"net/http"

	"github.com/keyrelay/keyrelay/internal/dpop"
)

// DPoP at the token endpoint (RFC 9449 §5). With Config.DPoP, a token
// request may carry a proof; its key's thumbprint binds the access token
// (cnf.jkt, token_type DPoP) and, for the public clients, the refresh
// token family: a refresh must then carry a proof of the same key. A
// request without a proof gets Bearer tokens as before. Each proof is
// accepted once within its window (the verifier's replay cache).

// dpopErrors are the token endpoint's answers to a bad proof.
var (
	errBadProof  = oerr("invalid_dpop_proof", "the DPoP proof is invalid")
	errUseNonce  = oerr("use_dpop_nonce", "the DPoP proof must carry the server's nonce (DPoP-Nonce)")
	errBoundAway = oerr("invalid_grant", "the refresh token is bound to another DPoP key")
)

type jktKey struct{}

// checkProof verifies the request's DPoP proof, if it has one, and
// returns r with the key's thumbprint in its context ("" without a
// proof). With server nonces on, the current nonce goes in DPoP-Nonce.
func (s *Server) checkProof(w http.ResponseWriter, r *http.Request) (*http.Request, *oauthError) {
	if s.dpop == nil {
		return r, nil // DPoP off: a proof is ignored (RFC 9449 §5), tokens are Bearer
	}
	if n := s.dpop.Nonces(); n != nil {
		w.Header().Set("DPoP-Nonce", n.Current())
	}
	proofs := r.Header.Values("DPoP")
	if len(proofs) == 0 {
		return r, nil
	}
	res, err := s.dpop.Verify(dpop.Request{Proofs: proofs, Method: r.Method, URL: s.cfg.Issuer + "/token"})
	if err != nil {
		var pe *dpop.ProofError
		reason := "invalid"
		if errors.As(err, &pe) {
			reason = pe.Reason
		}
		s.log.Info("authserver: DPoP proof refused", "reason", reason)
		if errors.Is(err, dpop.ErrUseNonce) {
			return r, errUseNonce
		}
		return r, oerr(errBadProof.Code, "the DPoP proof is invalid: "+reason)
	}
	return r.WithContext(context.WithValue(r.Context(), jktKey{}, res.Thumbprint)), nil
}

// jktOf is the thumbprint of the request's verified proof, "" for none.
func jktOf(r *http.Request) string {
	s, _ := r.Context().Value(jktKey{}).(string)
	return s
}

// dpopAlgs is dpop_signing_alg_values_supported, nil when DPoP is off.
func (s *Server) dpopAlgs() []string {
	if s.dpop == nil {
		return nil
	}
	return s.dpop.Algs()
}

func newDPoPVerifier(cfg Config) *dpop.Verifier {
	if !cfg.DPoP {
		return nil
	}
	vc := dpop.VerifierConfig{Now: cfg.Now}
	if cfg.DPoPNonce {
		vc.Nonces = dpop.NewNonces(0, cfg.Now)
	}
	return dpop.NewVerifier(vc)
}
