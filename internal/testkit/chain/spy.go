package chain

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
)

// spy counts token requests by grant and records the secrets in the
// requests to the token and revocation endpoints and in their answers.
func (s *Server) spy(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/token" && r.URL.Path != "/revoke" {
			h.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<16))
		form, _ := url.ParseQuery(string(body))
		switch form.Get("grant_type") {
		case "authorization_code":
			s.Codes.Add(1)
		case "refresh_token":
			s.Refreshes.Add(1)
		}
		s.remember(form.Get("code"), form.Get("code_verifier"), form.Get("refresh_token"), form.Get("token"), form.Get("device_code"))
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var tok struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &tok) == nil {
			s.remember(tok.AccessToken, tok.RefreshToken)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// remember keeps the values that are long enough to be secrets.
func (s *Server) remember(vs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range vs {
		if len(v) >= 8 {
			s.secrets = append(s.secrets, v)
		}
	}
}

// Secrets returns every code, verifier and token seen so far.
func (s *Server) Secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.secrets...)
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
