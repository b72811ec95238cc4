package authserver

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"
)

const (
	maxRegisterBytes = 16 << 10
	maxRedirectURIs  = 10
)

// registration is the RFC 7591 client metadata this server reads. Other
// members are ignored.
type registration struct {
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	ApplicationType         string   `json:"application_type,omitempty"`
}

// registered is the 201 answer: the accepted metadata and the client id.
type registered struct {
	ClientID         string `json:"client_id"`
	ClientIDIssuedAt int64  `json:"client_id_issued_at"`
	registration
}

// handleRegister is RFC 7591 dynamic registration, for native public
// clients with loopback redirect URIs only.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeOAuthError(w, invalidRequest("content type must be application/json"))
		return
	}
	var m registration
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRegisterBytes))
	if err := dec.Decode(&m); err != nil {
		writeOAuthError(w, oerr("invalid_client_metadata", "body is not a JSON object of client metadata, or is too large"))
		return
	}
	c, oe := s.registrationClient(&m)
	if oe == nil {
		oe = s.addClient(c, sourceKey(r))
	}
	if oe != nil {
		writeOAuthError(w, oe)
		return
	}
	s.log.Info("authserver: client registered", "client_id", c.ID)
	writeJSON(w, http.StatusCreated, registered{ClientID: c.ID, ClientIDIssuedAt: s.now().Unix(), registration: m})
}

// registrationClient checks the metadata, fills in defaults and returns
// the client to add.
func (s *Server) registrationClient(m *registration) (Client, *oauthError) {
	bad := func(desc string) (Client, *oauthError) { return Client{}, oerr("invalid_client_metadata", desc) }
	if len(m.RedirectURIs) == 0 || len(m.RedirectURIs) > maxRedirectURIs {
		return Client{}, oerr("invalid_redirect_uri", "between 1 and 10 redirect_uris are required")
	}
	for _, ru := range m.RedirectURIs {
		if !registrableRedirect(ru) {
			return Client{}, oerr("invalid_redirect_uri", "redirect URIs must be http://127.0.0.1/... or http://[::1]/...")
		}
	}
	if m.TokenEndpointAuthMethod != "" && m.TokenEndpointAuthMethod != "none" {
		return bad("only public clients (token_endpoint_auth_method none) are accepted")
	}
	if m.ApplicationType != "" && m.ApplicationType != "native" {
		return bad("only native clients are accepted")
	}
	if len(m.ResponseTypes) > 0 && !slices.Equal(m.ResponseTypes, []string{"code"}) {
		return bad("response_types must be [\"code\"]")
	}
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = []string{"authorization_code", "refresh_token"}
	}
	for _, gt := range m.GrantTypes {
		if gt != "authorization_code" && gt != "refresh_token" && gt != DeviceCodeGrantType {
			return bad("unsupported grant type")
		}
	}
	if !validClientName(m.ClientName) {
		return bad("client_name must be at most 100 printable characters")
	}
	scopes, oe := parseScope(m.Scope, s.cfg.Scopes, s.cfg.Scopes)
	if oe != nil {
		return bad("scope must be a subset of scopes_supported")
	}
	m.TokenEndpointAuthMethod, m.ApplicationType, m.ResponseTypes, m.Scope = "none", "native", []string{"code"}, joinScopes(scopes)
	return Client{
		ID: "dyn-" + randomString(16), Name: m.ClientName, RedirectURIs: m.RedirectURIs,
		Scopes: scopes, DefaultScopes: registeredDefaults(scopes, s.cfg.RegisteredDefaultScopes),
		grants: m.GrantTypes, dynamic: true,
	}, nil
}

// registeredDefaults are a registered client's default scopes: those of
// its scopes that registered clients get by default (issue 14, F1). The
// others, admin among them, it gets only by asking for them.
func registeredDefaults(scopes, defaults []string) []string {
	out := []string{}
	for _, sc := range scopes {
		if slices.Contains(defaults, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// registrableRedirect: http, a loopback IP literal, any or no port, no
// user info, no fragment.
func registrableRedirect(ru string) bool {
	u, err := url.Parse(ru)
	return err == nil && len(ru) <= 2048 && isLoopbackURL(u) && validPort(u.Port()) &&
		u.Host != "" && !strings.ContainsAny(ru, "#\\")
}

func validClientName(n string) bool {
	if len(n) > 100 {
		return false
	}
	for _, r := range n {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
