package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/keyrelay/keyrelay/internal/dpop"
)

// DPoP (RFC 9449) on token requests. Every token request goes through
// Client.token, whatever its grant (code, refresh, device, client
// credentials, and any grant added later): that is where the proof is
// attached, the server's nonce kept and a use_dpop_nonce answer retried
// once, and where the token_type of the answer is checked against what
// was asked.

// The DPoP modes (RELAY_DPOP).
const (
	DPoPAuto = "auto" // when the metadata lists dpop_signing_alg_values_supported
	DPoPOn   = "on"   // always; a server without DPoP is refused
	DPoPOff  = "off"  // never
)

// ErrDPoPUnsupported means DPoP is required (RELAY_DPOP=on, the policy's
// require_dpop) and the authorization server does not offer it, or offers
// none of the algorithms the relay signs with.
var ErrDPoPUnsupported = errors.New("oauth: the authorization server does not support DPoP, which is required")

type dpopKey struct{}

// proofCall is one token request's DPoP state, in its context (it is
// also the context key): the signer, and whether the answer brought a new
// nonce.
type proofCall struct {
	signer *dpop.Signer
	fresh  bool
}

// WithDPoP returns ctx carrying s: a Client set up from it (see FromContext)
// signs its token requests' proofs with s's key, generating one when a
// server asks for DPoP and s has none yet.
func WithDPoP(ctx context.Context, s *dpop.Signer) context.Context {
	return context.WithValue(ctx, dpopKey{}, s)
}

// DPoPFrom returns the Signer WithDPoP put in ctx, or nil.
func DPoPFrom(ctx context.Context) *dpop.Signer {
	s, _ := ctx.Value(dpopKey{}).(*dpop.Signer)
	return s
}

// dpopSigner returns the Signer, with a key, that this client's token
// requests use, or nil when they go without DPoP.
func (c *Client) dpopSigner() (*dpop.Signer, error) {
	algs := c.Metadata.DPoPSigningAlgValuesSupported
	switch {
	case c.DPoPMode == DPoPOff:
		return nil, nil
	case len(algs) == 0 && c.DPoPMode == DPoPOn:
		return nil, ErrDPoPUnsupported
	case len(algs) == 0 || c.DPoP == nil:
		return nil, nil
	}
	alg, ok := dpop.Choose(algs)
	if !ok {
		if c.DPoPMode == DPoPOn {
			return nil, fmt.Errorf("%w: it lists none of %s", ErrDPoPUnsupported, strings.Join(dpop.Algs, ", "))
		}
		return nil, nil
	}
	if _, err := c.DPoP.EnsureKey(alg); err != nil {
		return nil, err
	}
	return c.DPoP, nil
}

// checkDPoP fails when DPoP is required and the server does not offer it
// (or none of the relay's algorithms): what a token request would say,
// said before a sign-in starts.
func (c *Client) checkDPoP() error {
	if c.DPoPMode != DPoPOn {
		return nil
	}
	algs := c.Metadata.DPoPSigningAlgValuesSupported
	if _, ok := dpop.Choose(algs); len(algs) == 0 || !ok {
		return fmt.Errorf("%w (RELAY_DPOP=on or the policy's require_dpop): its metadata lists no dpop_signing_alg_values_supported the relay can use (%s)", ErrDPoPUnsupported, strings.Join(dpop.Algs, ", "))
	}
	return nil
}

// setProof adds the DPoP header for a POST to endpoint.
func setProof(req *http.Request, s *dpop.Signer, endpoint string) error {
	if s == nil {
		return nil
	}
	p, err := s.Proof(http.MethodPost, endpoint, "")
	if err != nil {
		return fmt.Errorf("oauth: DPoP proof: %w", err)
	}
	req.Header.Set("DPoP", p)
	return nil
}

// checkTokenType refuses an answer whose token_type is not what was
// asked: DPoP when a proof went with the request, Bearer otherwise. A
// server that ignored the proof and issued a bearer token is refused too:
// the relay would otherwise hold a token anyone who copies it can use.
func checkTokenType(got string, proved bool) error {
	want := "Bearer"
	if proved {
		want = "DPoP"
	}
	if !strings.EqualFold(got, want) {
		return fmt.Errorf("%w: token_type %q is not %s, which was asked for", ErrBadResponse, sanitize(got, 32), want)
	}
	return nil
}
