package authserver

import (
	"net/http"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// handleRevoke is RFC 7009 revocation. A refresh token (current or rotated
// away) revokes its whole family. The answer is 200 whether or not the
// token existed, was already revoked, belongs to another client or is an
// access token, so it reveals nothing. A revoked access token, or one
// issued from a revoked family, is inactive at /introspect at once; as a
// JWT it stays valid for a backend that checks only its signature, until
// it expires.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	form, oe := readForm(w, r, maxFormBytes)
	if oe == nil && form.Get("token") == "" {
		oe = invalidRequest("token is required")
	}
	if oe != nil {
		writeOAuthError(w, oe)
		return
	}
	tok := secret.New(form.Get("token"))
	clientID := form.Get("client_id")
	st := s.store
	st.mu.Lock()
	f := st.families[st.refresh[hashOf(tok)]]
	if f != nil && (clientID == "" || clientID == f.clientID) && st.revokeFamily(f.id) {
		s.log.Info("authserver: token family revoked", "sub", f.user, "client_id", f.clientID, "family", f.id)
	}
	st.mu.Unlock()
	if s.issued.revoke(tok, clientID) {
		s.log.Info("authserver: access token revoked", "client_id", clientID)
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
}
