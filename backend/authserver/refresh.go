package authserver

import (
	"net/url"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// refreshGrant redeems a refresh token (RFC 6749 §6) and rotates it. A
// token that was already rotated away revokes its whole family
// (RFC 9700 §4.14.2). A token presented by another client is refused
// without rotating. scope may narrow, never widen; resource must be the
// granted one.
func (s *Server) refreshGrant(form url.Values, c Client) (*tokenResponse, *oauthError) {
	rt := secret.New(form.Get("refresh_token"))
	if rt.IsZero() {
		return nil, invalidRequest("refresh_token is required")
	}
	now := s.now()
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweep(now)
	h := hashOf(rt)
	f := st.families[st.refresh[h]]
	if f == nil || f.revoked || now.After(f.expires) || f.clientID != c.ID {
		return nil, errInvalidGrant
	}
	if f.jkt != "" && f.jkt != c.dpopJKT {
		// A bound refresh token without a proof of its key (RFC 9449 §5):
		// refused, and the family kept, so that whoever copied the token
		// cannot revoke the client's sign-in with it either.
		s.log.Warn("authserver: bound refresh token without its DPoP key", "sub", f.user, "client_id", f.clientID, "family", f.id)
		return nil, errBoundAway
	}
	if f.current != h {
		st.revokeFamily(f.id)
		s.log.Warn("authserver: refresh token reused, token family revoked", "sub", f.user, "client_id", f.clientID, "family", f.id)
		return nil, errInvalidGrant
	}
	scopes, oe := narrowScope(form, f.scopes)
	if oe != nil {
		return nil, oe
	}
	if oe := s.grantResource(form, f.resource); oe != nil {
		return nil, oe
	}
	next := secret.New(randomString(32))
	f.current = hashOf(next)
	f.expires = now.Add(s.cfg.RefreshTTL)
	st.refresh[f.current] = f.id
	g := f.grant
	g.jkt = c.dpopJKT // a proof binds the new access token, even in an unbound family
	return s.respond(g, scopes, next, now)
}
