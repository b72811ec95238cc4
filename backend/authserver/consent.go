package authserver

import (
	"net/http"
	"net/url"

	"github.com/keyrelay/keyrelay/internal/secret"
)

type consentPage struct {
	Title, Action, ClientName, ClientID, User, Resource, RequestID, CSRF, UserCode string
	Scopes                                                                         []string
	Dynamic                                                                        bool
}

// handleConsentPage shows the client and scopes, with Allow and Deny.
func (s *Server) handleConsentPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("request_id")
	req, ok := s.session(r, id)
	if !ok || req.user == "" {
		s.message(w, http.StatusBadRequest, "Request expired", textExpired)
		return
	}
	c, _ := s.store.client(req.clientID)
	p := consentPage{
		Title: "Allow access?", Action: s.path + "/consent", ClientName: displayName(c), ClientID: c.ID,
		User: req.user, Resource: req.resource, RequestID: id, CSRF: req.csrf.Reveal(),
		Scopes: req.scopes, Dynamic: c.dynamic,
	}
	if req.device != nil {
		p.UserCode = formatUserCode(req.device.userCode)
	}
	s.render(w, http.StatusOK, "consent", p)
}

// handleConsent takes the pending request (it is single-use) and answers
// with a 303: to the client's redirect URI with a code or access_denied,
// or, for the device flow, to the device page.
func (s *Server) handleConsent(w http.ResponseWriter, r *http.Request) {
	form, ok := pageForm(w, r)
	id := form.Get("request_id")
	if _, live := s.session(r, id); !ok || !live {
		s.message(w, http.StatusBadRequest, "Request expired", textExpired)
		return
	}
	pageHeaders(w.Header())
	req, ok := s.take(id, secret.New(form.Get("csrf_token")))
	if !ok {
		seeOther(w, s.path+"/consent?request_id="+url.QueryEscape(id))
		return
	}
	http.SetCookie(w, s.cookie(id, "", -1))
	allow := form.Get("action") == "allow"
	if req.device != nil {
		s.decideDevice(w, req, allow)
		return
	}
	if !allow {
		s.log.Info("authserver: consent denied", "sub", req.user, "client_id", req.clientID)
		seeOther(w, s.errorRedirect(req.redirectURI, req.state, oerr("access_denied", "the user denied the request")))
		return
	}
	code := s.issueCode(req)
	s.log.Info("authserver: consent given", "sub", req.user, "client_id", req.clientID)
	seeOther(w, s.codeRedirect(req.redirectURI, req.state, code.Reveal()))
}

// issueCode stores a single-use code for an approved request.
func (s *Server) issueCode(req *authRequest) secret.Value {
	now := s.now()
	code := secret.New(randomString(32))
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweep(now)
	st.codes[hashOf(code)] = &authCode{
		grant: req.grant, redirectURI: req.redirectURI, challenge: req.challenge,
		expires: now.Add(codeTTL),
	}
	return code
}
