package authserver

import (
	"net/http"
	"net/url"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// handleAuthorize validates an authorization request. The client and
// redirect_uri are checked first: if either is wrong, an error page is
// shown and nothing is redirected. Later errors go back to the client.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.message(w, http.StatusBadRequest, "Invalid request", textBadRequest)
		return
	}
	client, redirectURI, ok := s.authorizeClient(q)
	if !ok {
		s.message(w, http.StatusBadRequest, "Invalid request", textBadRequest)
		return
	}
	var state secret.Value
	if len(q["state"]) == 1 && len(q.Get("state")) <= maxState {
		state = secret.New(q.Get("state"))
	}
	req, oe := s.parseAuthorize(q, client)
	if oe != nil {
		s.log.Info("authserver: authorize refused", "client_id", client.ID, "error", oe.Code)
		seeOther(w, s.errorRedirect(redirectURI, state, oe))
		return
	}
	req.redirectURI, req.state = redirectURI, state
	s.startLogin(w, r, req)
}

// authorizeClient checks client_id and redirect_uri (required, single).
func (s *Server) authorizeClient(q url.Values) (Client, string, bool) {
	if len(q["client_id"]) != 1 || len(q["redirect_uri"]) != 1 {
		return Client{}, "", false
	}
	c, ok := s.store.client(q.Get("client_id"))
	if !ok {
		return Client{}, "", false
	}
	ru, ok := clientRedirect(c, q.Get("redirect_uri"))
	return c, ru, ok
}

// parseAuthorize checks everything but the client and redirect URI, in
// the order: repeats, response_type, PKCE, resource, scope, state.
func (s *Server) parseAuthorize(q url.Values, c Client) (*authRequest, *oauthError) {
	if hasRepeats(q) {
		return nil, errRepeated
	}
	switch rt := q.Get("response_type"); {
	case rt == "":
		return nil, invalidRequest("response_type is required")
	case rt != "code":
		return nil, oerr("unsupported_response_type", "only response_type=code is supported")
	}
	if !c.allowsGrant("authorization_code") {
		return nil, errUnauthorized
	}
	if q.Get("code_challenge_method") != "S256" || !validChallenge(q.Get("code_challenge")) {
		return nil, invalidRequest("PKCE is required: code_challenge_method=S256 and a 43-character code_challenge")
	}
	resource, oe := s.checkResource(q.Get("resource"))
	if oe != nil {
		return nil, oe
	}
	scopes, oe := parseScope(q.Get("scope"), c.Scopes, c.DefaultScopes)
	if oe != nil {
		return nil, oe
	}
	if len(q.Get("state")) > maxState {
		return nil, invalidRequest("state is too long")
	}
	return &authRequest{
		grant:     grant{clientID: c.ID, scopes: scopes, resource: resource},
		challenge: q.Get("code_challenge"),
	}, nil
}

// errorRedirect builds the redirect carrying an error, the state and the
// issuer (RFC 9207).
func (s *Server) errorRedirect(redirectURI string, state secret.Value, oe *oauthError) string {
	v := url.Values{"error": {oe.Code}, "error_description": {oe.Description}, "iss": {s.cfg.Issuer}}
	if !state.IsZero() {
		v.Set("state", state.Reveal()) // echoed to the client: the state's job
	}
	return withParams(redirectURI, v)
}

// codeRedirect builds the successful authorization response.
func (s *Server) codeRedirect(redirectURI string, state secret.Value, code string) string {
	v := url.Values{"code": {code}, "iss": {s.cfg.Issuer}}
	if !state.IsZero() {
		v.Set("state", state.Reveal()) // echoed to the client: the state's job
	}
	return withParams(redirectURI, v)
}
