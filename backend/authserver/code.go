package authserver

import (
	"net/url"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// codeGrant exchanges an authorization code (RFC 6749 §4.1.3, RFC 7636).
// Parameters are checked before the code is looked up, so a malformed
// request does not spend it. Once looked up, the code is spent whatever
// happens next; a code presented again revokes the refresh token family
// issued from it (RFC 6749 §4.1.2).
func (s *Server) codeGrant(form url.Values, c Client) (*tokenResponse, *oauthError) {
	code, verifier := secret.New(form.Get("code")), form.Get("code_verifier")
	if code.IsZero() || form.Get("redirect_uri") == "" {
		return nil, invalidRequest("code and redirect_uri are required")
	}
	if !validVerifier(verifier) {
		return nil, invalidRequest("code_verifier is required: 43 to 128 unreserved characters")
	}
	if form.Get("resource") != "" {
		if _, oe := s.checkResource(form.Get("resource")); oe != nil {
			return nil, oe
		}
	}
	now := s.now()
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweep(now)
	ac := st.codes[hashOf(code)]
	if ac == nil {
		return nil, errInvalidGrant
	}
	if ac.used {
		if st.revokeFamily(ac.family) {
			s.log.Warn("authserver: code replayed, token family revoked", "sub", ac.user, "client_id", ac.clientID, "family", ac.family)
		}
		return nil, errInvalidGrant
	}
	ac.used = true
	if now.After(ac.expires) || ac.clientID != c.ID || ac.redirectURI != form.Get("redirect_uri") ||
		!pkceMatch(verifier, ac.challenge) {
		return nil, errInvalidGrant
	}
	if oe := s.grantResource(form, ac.resource); oe != nil {
		return nil, oe
	}
	g := ac.grant
	g.jkt = c.dpopJKT // the refresh family is bound to the key too
	f, rt := st.newFamily(g, now.Add(s.cfg.RefreshTTL))
	ac.family = f.id
	return s.respond(g, ac.scopes, rt, now)
}
