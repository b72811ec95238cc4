package authserver

import (
	"net/http"
	"net/url"

	"github.com/keyrelay/keyrelay/internal/secret"
)

type loginPage struct {
	Title, Action, ClientName, ClientID, RequestID, CSRF string
	Error                                                bool
}

// handleLoginPage shows the login form for a pending request.
func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("request_id")
	req, ok := s.session(r, id)
	if !ok {
		s.message(w, http.StatusBadRequest, "Request expired", textExpired)
		return
	}
	if req.user != "" {
		seeOther(w, s.path+"/consent?request_id="+url.QueryEscape(id))
		return
	}
	c, _ := s.store.client(req.clientID)
	s.render(w, http.StatusOK, "login", loginPage{
		Title: "Sign in", Action: s.path + "/login", ClientName: displayName(c), ClientID: c.ID,
		RequestID: id, CSRF: req.csrf.Reveal(), Error: r.URL.Query().Get("error") == "1",
	})
}

// handleLogin checks the CSRF token, the rate limits and the password.
// Every outcome with a valid session is a 303: to the consent page on
// success, back to the form with a generic error otherwise.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	form, ok := pageForm(w, r)
	id := form.Get("request_id")
	req, live := s.session(r, id)
	if !ok || !live {
		s.message(w, http.StatusBadRequest, "Request expired", textExpired)
		return
	}
	again := s.path + "/login?error=1&request_id=" + url.QueryEscape(id)
	pageHeaders(w.Header())
	if !req.csrf.Equal(secret.New(form.Get("csrf_token"))) {
		s.log.Info("authserver: login refused: bad csrf token", "client_id", req.clientID)
		seeOther(w, again)
		return
	}
	name, ok := s.authenticate(r, form.Get("username"), form.Get("password"), req.clientID)
	if !ok {
		seeOther(w, again)
		return
	}
	fresh := secret.New(randomString(32))
	if !s.update(id, func(a *authRequest) { a.user, a.csrf = name, fresh }) {
		s.message(w, http.StatusBadRequest, "Request expired", textExpired)
		return
	}
	s.log.Info("authserver: login", "sub", name, "client_id", req.clientID)
	seeOther(w, s.path+"/consent?request_id="+url.QueryEscape(id))
}

// authenticate applies the per-address limit and the per-user brake (see
// userBrake), then checks the password. It logs no user name on failure:
// users sometimes type a password into the username field.
func (s *Server) authenticate(r *http.Request, name, password, clientID string) (string, bool) {
	addr, user := sourceKey(r), "user:"+truncate(name, 64)
	if s.limiter.blocked("ip:"+addr) || s.brake.blocked(user, addr) {
		s.log.Warn("authserver: login rate-limited", "client_id", clientID, "remote", remoteIP(r))
		return "", false
	}
	found, ok := s.checkPassword(name, password)
	if !ok {
		s.limiter.fail("ip:" + addr)
		s.brake.fail(user, addr)
		s.log.Info("authserver: login failed", "client_id", clientID, "remote", remoteIP(r))
	}
	return found, ok
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// displayName is the client's name, or its id when it has none.
func displayName(c Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}
