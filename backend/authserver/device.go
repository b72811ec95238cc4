package authserver

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// userCodeAlphabet has no vowels (no words) and no look-alike digits
// (RFC 8628 §6.1): 20^8, about 2^34.6 codes, with rate-limited guessing.
const (
	userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLen      = 8
	deviceCookie     = "keyrelay_device"
)

type deviceAuthResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// handleDeviceAuthorization starts an RFC 8628 device authorization.
func (s *Server) handleDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	form, oe := readForm(w, r, maxFormBytes)
	var c Client
	if oe == nil {
		c, oe = s.tokenClient(form, DeviceCodeGrantType)
	}
	var g grant
	if oe == nil {
		g, oe = s.deviceRequest(form, c)
	}
	var resp *deviceAuthResponse
	if oe == nil {
		resp, oe = s.newDeviceGrant(g, sourceKey(r))
	}
	if oe != nil {
		writeOAuthError(w, oe)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) deviceRequest(form url.Values, c Client) (grant, *oauthError) {
	resource, oe := s.checkResource(form.Get("resource"))
	if oe != nil {
		return grant{}, oe
	}
	scopes, oe := parseScope(form.Get("scope"), c.Scopes, c.DefaultScopes)
	if oe != nil {
		return grant{}, oe
	}
	return grant{clientID: c.ID, scopes: scopes, resource: resource}, nil
}

// newDeviceGrant stores a device grant requested from addr.
func (s *Server) newDeviceGrant(g grant, addr string) (*deviceAuthResponse, *oauthError) {
	now := s.now()
	dc := secret.New(randomString(32))
	d := &deviceGrant{grant: g, hash: hashOf(dc), expires: now.Add(deviceTTL), interval: s.deviceInterval}
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweep(now)
	for d.userCode == "" || st.userCodes[d.userCode] != nil {
		d.userCode = newUserCode()
	}
	if !st.addDevice(d, addr) {
		return nil, errBusy
	}
	uc := formatUserCode(d.userCode)
	return &deviceAuthResponse{
		DeviceCode: dc.Reveal(), UserCode: uc,
		VerificationURI:         s.cfg.Issuer + "/device",
		VerificationURIComplete: s.cfg.Issuer + "/device?user_code=" + url.QueryEscape(uc),
		ExpiresIn:               int64(deviceTTL / time.Second), Interval: int64(s.deviceInterval / time.Second),
	}, nil
}

// deviceGrant polls a device code (RFC 8628 §3.4, §3.5).
func (s *Server) deviceGrant(form url.Values, c Client) (*tokenResponse, *oauthError) {
	dc := secret.New(form.Get("device_code"))
	if dc.IsZero() {
		return nil, invalidRequest("device_code is required")
	}
	now := s.now()
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweep(now)
	d := st.devices[hashOf(dc)]
	if d == nil || d.clientID != c.ID {
		return nil, errInvalidGrant
	}
	if now.After(d.expires) {
		st.dropDevice(d)
		return nil, oerr("expired_token", "the device code has expired")
	}
	if !d.lastPoll.IsZero() && now.Sub(d.lastPoll) < d.interval {
		d.lastPoll = now
		d.interval += 5 * time.Second
		return nil, oerr("slow_down", "polling too fast")
	}
	d.lastPoll = now
	switch d.status {
	case devicePending:
		return nil, oerr("authorization_pending", "the user has not answered yet")
	case deviceDenied:
		st.dropDevice(d)
		return nil, oerr("access_denied", "the user denied the request")
	}
	scopes, oe := narrowScope(form, d.scopes)
	if oe != nil {
		return nil, oe
	}
	st.dropDevice(d)
	g := d.grant
	g.jkt = c.dpopJKT
	_, rt := st.newFamily(g, now.Add(s.cfg.RefreshTTL))
	return s.respond(g, scopes, rt, now)
}

func newUserCode() string {
	b := make([]byte, userCodeLen)
	for i := range b {
		b[i] = userCodeAlphabet[randIndex(len(userCodeAlphabet))]
	}
	return string(b)
}

// randIndex is uniform in [0, n) for n <= 256.
func randIndex(n int) int {
	limit := 256 - 256%n
	var b [1]byte
	for {
		_, _ = rand.Read(b[:])
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

// normalizeUserCode uppercases and drops separators, so "bcdf-ghjk" and
// "BCDF GHJK" both work. It returns "" for anything that is not a code.
func normalizeUserCode(in string) string {
	if len(in) > 32 {
		return ""
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(in) {
		switch {
		case r == '-' || r == ' ':
		case strings.ContainsRune(userCodeAlphabet, r):
			b.WriteRune(r)
		default:
			return ""
		}
	}
	if b.Len() != userCodeLen {
		return ""
	}
	return b.String()
}

func formatUserCode(c string) string {
	if len(c) != userCodeLen {
		return c
	}
	return c[:4] + "-" + c[4:]
}
