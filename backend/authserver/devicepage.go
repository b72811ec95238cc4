package authserver

import (
	"net/http"

	"github.com/keyrelay/keyrelay/internal/secret"
)

type devicePage struct {
	Title, Action, CSRF, UserCode string
	Error                         bool
}

// handleDevicePage shows the user-code form, or the outcome of a device
// consent. The form's CSRF token is double-submitted: a cookie and a
// hidden field that must match.
func (s *Server) handleDevicePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch q.Get("status") {
	case "approved":
		s.message(w, http.StatusOK, "Device connected", "You can close this window and return to your device.")
		return
	case "denied":
		s.message(w, http.StatusOK, "Request denied", "The device was not given access. You can close this window.")
		return
	}
	csrf := randomString(32)
	http.SetCookie(w, s.deviceCSRFCookie(csrf, int(deviceTTL.Seconds())))
	s.render(w, http.StatusOK, "device", devicePage{
		Title: "Connect a device", Action: s.path + "/device", CSRF: csrf,
		UserCode: formatUserCode(normalizeUserCode(q.Get("user_code"))), Error: q.Get("error") == "1",
	})
}

func (s *Server) deviceCSRFCookie(v string, maxAge int) *http.Cookie {
	c := s.cookie("", v, maxAge)
	c.Name = deviceCookie
	return c
}

// handleDevice takes a user code and starts the login for it. Wrong codes
// are rate-limited per remote address.
func (s *Server) handleDevice(w http.ResponseWriter, r *http.Request) {
	form, ok := pageForm(w, r)
	pageHeaders(w.Header())
	again := s.path + "/device?error=1"
	ck, err := r.Cookie(deviceCookie)
	if !ok || err != nil || ck.Value == "" || !secret.New(ck.Value).Equal(secret.New(form.Get("csrf_token"))) {
		seeOther(w, again)
		return
	}
	key := "device-ip:" + sourceKey(r)
	if s.limiter.blocked(key) {
		seeOther(w, again)
		return
	}
	req := s.deviceLogin(normalizeUserCode(form.Get("user_code")))
	if req == nil {
		s.limiter.fail(key)
		s.log.Info("authserver: wrong user code", "remote", remoteIP(r))
		seeOther(w, again)
		return
	}
	http.SetCookie(w, s.deviceCSRFCookie("", -1))
	s.startLogin(w, r, req)
}

// deviceLogin returns a pending request for a live, pending user code.
func (s *Server) deviceLogin(code string) *authRequest {
	if code == "" {
		return nil
	}
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	d := st.userCodes[code]
	if d == nil || d.status != devicePending || s.now().After(d.expires) {
		return nil
	}
	g := d.grant
	g.user = ""
	return &authRequest{grant: g, device: d}
}

// decideDevice records the user's answer for a device grant and shows the
// outcome page.
func (s *Server) decideDevice(w http.ResponseWriter, req *authRequest, allow bool) {
	st := s.store
	st.mu.Lock()
	d := req.device
	live := st.devices[d.hash] == d && d.status == devicePending && !s.now().After(d.expires)
	if live && allow {
		d.status, d.user = deviceApproved, req.user
	} else if live {
		d.status = deviceDenied
	}
	st.mu.Unlock()
	if !live {
		s.message(w, http.StatusBadRequest, "Request expired", "This device code has expired or was already used. Start again on your device.")
		return
	}
	s.log.Info("authserver: device consent", "sub", req.user, "client_id", req.clientID, "allowed", allow)
	status := "denied"
	if allow {
		status = "approved"
	}
	seeOther(w, s.path+"/device?status="+status)
}
