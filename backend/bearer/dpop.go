package bearer

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyrelay/keyrelay/internal/dpop"
)

// DPoP checks how a token is presented against its binding (RFC 9449 §7):
// a token bound to a key (cnf.jkt) only with the DPoP scheme and a proof
// of that key for this request; with Require, no bearer token at all. A
// nil *DPoP accepts bearer tokens only and refuses a bound one.
//
// The token itself is checked (and cached) by the Validator or the
// Introspector as before; the proof is checked at every request, since
// each proof is for one request only.
type DPoP struct {
	// Verifier checks the proofs; its replay cache spans the requests.
	Verifier *dpop.Verifier
	// Require refuses bearer tokens (BACKEND_REQUIRE_DPOP).
	Require bool
}

// The reasons a presentation is refused. Fixed strings, as the others.
const (
	reasonBoundAsBearer = "the token is bound to a DPoP key: present it with the DPoP scheme and a proof"
	reasonDPoPRequired  = "DPoP is required: present a DPoP-bound token with a proof"
	reasonNotBound      = "the token is not bound to a DPoP key"
)

// Check checks that tok, presented with scheme in r, is presented as its
// binding requires. publicURL is the backend's canonical URL: the proof's
// htu is compared with its origin and the request's path. A refusal is a
// *TokenError (invalid_token) or a *dpop.ProofError (invalid_dpop_proof,
// or use_dpop_nonce when it wraps dpop.ErrUseNonce; invalid_token when
// it wraps dpop.ErrKeyMismatch): ChallengeFor maps each.
func (d *DPoP) Check(r *http.Request, scheme, raw string, tok *Token, publicURL string) error {
	if scheme != SchemeDPoP {
		switch {
		case tok.JKT != "":
			return invalid(reasonBoundAsBearer)
		case d != nil && d.Require:
			return invalid(reasonDPoPRequired)
		}
		return nil
	}
	if d == nil || d.Verifier == nil {
		return ErrMalformedHeader
	}
	if tok.JKT == "" {
		return invalid(reasonNotBound)
	}
	_, err := d.Verifier.Verify(dpop.Request{
		Proofs:      r.Header.Values("DPoP"),
		Method:      r.Method,
		URL:         RequestURL(publicURL, r),
		AccessToken: raw,
		Thumbprint:  tok.JKT,
	})
	return err
}

// RequestURL is the URL of r as its client addressed it: the origin of
// publicURL (the canonical URL, whatever Host the request came with
// behind a proxy) and the request's path, under publicURL's path unless
// it is already there. The query is left out: htu never has one.
func RequestURL(publicURL string, r *http.Request) string {
	u, err := url.Parse(publicURL)
	if err != nil {
		return ""
	}
	base := strings.TrimSuffix(u.EscapedPath(), "/")
	p := r.URL.EscapedPath()
	if base != "" && p != base && !strings.HasPrefix(p, base+"/") {
		p = base + p
	}
	return u.Scheme + "://" + u.Host + p
}

// Challenges: the error codes of RFC 9449 §7.1 and §12.2.
const (
	ErrorInvalidDPoPProof = "invalid_dpop_proof"
	ErrorUseDPoPNonce     = "use_dpop_nonce"
)

// DPoPChallenge adds a DPoP challenge (RFC 9449 §7.1) to a Challenge.
type DPoPChallenge struct {
	// Algs are the proof algorithms accepted: the challenge's algs.
	Algs []string
	// Only leaves out the Bearer challenge (DPoP required).
	Only bool
	// Error puts the error on the DPoP challenge: the request used DPoP.
	Error bool
	// Nonce, if set, is sent as DPoP-Nonce.
	Nonce string
}

// ChallengeFor returns the 401 for err, a refusal of a token or of its
// presentation by a request that used scheme.
func (d *DPoP) ChallengeFor(err error, scheme, resourceMetadata string) *Challenge {
	c := &Challenge{Status: http.StatusUnauthorized, Error: "invalid_token", Description: "invalid token", ResourceMetadata: resourceMetadata}
	var te *TokenError
	var pe *dpop.ProofError
	switch {
	case errors.As(err, &pe):
		c.Description = pe.Reason
		switch {
		case errors.Is(err, dpop.ErrKeyMismatch):
		case errors.Is(err, dpop.ErrUseNonce):
			c.Error = ErrorUseDPoPNonce
		default:
			c.Error = ErrorInvalidDPoPProof
		}
	case errors.As(err, &te):
		c.Description = te.Reason
	case errors.Is(err, ErrMalformedHeader):
		c.Description = "malformed authorization header"
	}
	c.DPoP = d.Part(scheme)
	if c.DPoP != nil && c.Error == ErrorUseDPoPNonce {
		c.DPoP.Nonce = d.Verifier.Nonces().Current()
	}
	return c
}

// Part returns the DPoP part of a challenge to a request that used scheme
// ("" for none), nil when DPoP is off: the error goes on the DPoP
// challenge when the request used DPoP or DPoP is required.
func (d *DPoP) Part(scheme string) *DPoPChallenge {
	if d == nil || d.Verifier == nil {
		return nil
	}
	return &DPoPChallenge{Algs: d.Verifier.Algs(), Only: d.Require, Error: scheme == SchemeDPoP || d.Require}
}
