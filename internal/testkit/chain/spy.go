package chain

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
)

// spy records by kind the secrets in the requests to the token and
// revocation endpoints and in their answers, lets Options.Token see or
// answer each such request, and counts by grant the token requests that
// reach the authorization server.
func (s *Server) spy(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/token" && r.URL.Path != "/revoke" {
			h.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<16))
		form, _ := url.ParseQuery(string(body))
		for kind, key := range map[string]string{"authorization code": "code", "PKCE verifier": "code_verifier",
			"refresh token": "refresh_token", "revoked token": "token", "device code": "device_code", "client secret": "client_secret"} {
			s.remember(kind, form.Get(key))
		}
		if s.opts.Token != nil && s.opts.Token(w, r, form) {
			return
		}
		switch form.Get("grant_type") {
		case "authorization_code":
			s.Codes.Add(1)
		case "refresh_token":
			s.Refreshes.Add(1)
		}
		enc := form.Encode()
		r.Body, r.ContentLength = io.NopCloser(strings.NewReader(enc)), int64(len(enc))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var tok struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &tok) == nil {
			s.remember("access token", tok.AccessToken)
			s.remember("refresh token", tok.RefreshToken)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// remember keeps v under kind once, if it is long enough to be a secret.
func (s *Server) remember(kind, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(v) >= 8 && !slices.Contains(s.secrets[kind], v) {
		s.secrets[kind] = append(s.secrets[kind], v)
	}
}

// Secrets returns every code, verifier, token and client secret seen so
// far.
func (s *Server) Secrets() []string {
	var all []string
	for _, vs := range s.SecretsByKind() {
		all = append(all, vs...)
	}
	return all
}

// SecretsByKind returns what Secrets does, by kind: "authorization code",
// "PKCE verifier", "access token", "refresh token", "revoked token",
// "device code", "client secret".
func (s *Server) SecretsByKind() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	for k, vs := range s.secrets {
		out[k] = slices.Clone(vs)
	}
	return out
}

// Leaks reports whether text holds a secret the chain has seen, or
// anything that looks like a JWT ("eyJ").
func (s *Server) Leaks(text string) bool {
	for _, v := range s.Secrets() {
		if strings.Contains(text, v) {
			return true
		}
	}
	return strings.Contains(text, "eyJ")
}
