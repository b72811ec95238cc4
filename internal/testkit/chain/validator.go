package chain

import (
	"context"
	"testing"

	"github.com/keyrelay/keyrelay/backend/bearer"
	"github.com/keyrelay/keyrelay/backend/tool"
)

// validator is the real token validator, plus the chain's revocation: it
// notes each token it accepts, and refuses the revoked ones.
type validator struct {
	s *Server
	v *bearer.Validator
}

var _ tool.Validator = validator{}

// Validator checks tokens of the chain's issuer for audience, with the
// authorization server's keys; RevokeSeen revokes what it has accepted.
func (s *Server) Validator(t testing.TB, audience string) tool.Validator {
	t.Helper()
	v, err := bearer.NewStaticKeySet(bearer.Config{Issuer: s.URL, Audience: audience}, s.AS.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	return validator{s, v}
}

func (r validator) Validate(ctx context.Context, raw string) (*bearer.Token, error) {
	tok, err := r.v.Validate(ctx, raw)
	if err != nil {
		return nil, err
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	r.s.seen[tok.ID] = true
	if r.s.revoked[tok.ID] {
		return nil, &bearer.TokenError{Reason: "token revoked"}
	}
	return tok, nil
}

// RevokeSeen makes the validators refuse every access token they have
// accepted so far, as if the issuer had revoked them: the next call with
// one gets a 401.
func (s *Server) RevokeSeen() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for j := range s.seen {
		s.revoked[j] = true
	}
}
