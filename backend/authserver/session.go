package authserver

import (
	"net/http"
	"net/url"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// cookiePrefix names the cookie that binds a pending request to the
// browser that started it: one cookie per request id.
const cookiePrefix = "keyrelay_authz_"

// startLogin stores a pending request made by r, binds it to this browser
// with a cookie and sends the browser to the login page.
func (s *Server) startLogin(w http.ResponseWriter, r *http.Request, req *authRequest) {
	now := s.now()
	req.id = randomString(16)
	req.browser = secret.New(randomString(32))
	req.csrf = secret.New(randomString(32))
	req.expires = now.Add(requestTTL)
	st := s.store
	st.mu.Lock()
	st.sweep(now)
	full := !st.addRequest(req, sourceKey(r))
	st.mu.Unlock()
	if full {
		s.message(w, http.StatusServiceUnavailable, "Busy", "Too many sign-ins are in progress. Try again in a few minutes.")
		return
	}
	http.SetCookie(w, s.cookie(req.id, req.browser.Reveal(), int(requestTTL.Seconds())))
	pageHeaders(w.Header())
	seeOther(w, s.path+"/login?request_id="+url.QueryEscape(req.id))
}

func (s *Server) cookie(id, value string, maxAge int) *http.Cookie {
	path := s.path
	if path == "" {
		path = "/"
	}
	return &http.Cookie{
		Name: cookiePrefix + id, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: s.secureCookies, SameSite: http.SameSiteLaxMode,
	}
}

// session returns a snapshot of the pending request named by id if it
// exists, has not expired, and this browser holds its cookie.
func (s *Server) session(r *http.Request, id string) (authRequest, bool) {
	if id == "" || len(id) > 64 {
		return authRequest{}, false
	}
	c, err := r.Cookie(cookiePrefix + id)
	if err != nil {
		return authRequest{}, false
	}
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	req := st.requests[id]
	if req == nil || s.now().After(req.expires) || !req.browser.Equal(secret.New(c.Value)) {
		return authRequest{}, false
	}
	return *req, true
}

// update applies fn to the pending request id under the store lock, if it
// still exists.
func (s *Server) update(id string, fn func(*authRequest)) bool {
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	req := st.requests[id]
	if req == nil {
		return false
	}
	fn(req)
	return true
}

// take removes the pending request id and returns it, if it is still there
// and still carries the given CSRF token.
func (s *Server) take(id string, csrf secret.Value) (*authRequest, bool) {
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	req := st.requests[id]
	if req == nil || !req.csrf.Equal(csrf) || req.user == "" {
		return nil, false
	}
	st.dropRequest(id)
	return req, true
}

// pageForm reads a small form posted by one of the pages.
func pageForm(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	v, oe := readForm(w, r, maxPageForm)
	return v, oe == nil
}
