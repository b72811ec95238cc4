package authserver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// tokenResponse is the RFC 6749 §5.1 success body.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
}

// machineGrant returns the handler of a grant that a machine client
// presents with its own authentication (machine.go), nil for the grants
// of public clients: client credentials, and cross-app access's ID-JAG
// (idjag.go) when identity providers are trusted.
func (s *Server) machineGrant(grantType string) func(*http.Request, url.Values) (*tokenResponse, *oauthError) {
	switch {
	case grantType == ClientCredentialsGrantType && len(s.cfg.MachineClients) > 0:
		return s.clientCredentialsGrant
	case grantType == JWTBearerGrantType && len(s.cfg.TrustedIdPs) > 0:
		return s.jwtBearerGrant
	}
	return nil
}

// handleToken is the token endpoint. The body is a form of at most 64 KiB
// with no repeated parameter; only public clients (client_id in the body,
// no Authorization header) are served.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	form, oe := readForm(w, r, maxFormBytes)
	if oe == nil {
		r, oe = s.checkProof(w, r)
	}
	if grant := s.machineGrant(form.Get("grant_type")); oe == nil && grant != nil {
		resp, oe := grant(r, form)
		if oe != nil {
			writeOAuthError(w, oe)
			return
		}
		writeJSON(w, http.StatusOK, resp)
		return
	}
	if oe == nil && r.Header.Get("Authorization") != "" {
		oe = invalidRequest("client authentication is not supported: send client_id in the body")
	}
	if oe != nil {
		writeOAuthError(w, oe)
		return
	}
	var handle func(url.Values, Client) (*tokenResponse, *oauthError)
	switch gt := form.Get("grant_type"); gt {
	case "authorization_code":
		handle = s.codeGrant
	case "refresh_token":
		handle = s.refreshGrant
	case DeviceCodeGrantType:
		handle = s.deviceGrant
	case "":
		oe = invalidRequest("grant_type is required")
	default:
		oe = errUnsupportedGrant
	}
	var c Client
	if oe == nil {
		c, oe = s.tokenClient(form, form.Get("grant_type"))
		c.dpopJKT = jktOf(r)
	}
	var resp *tokenResponse
	if oe == nil {
		resp, oe = handle(form, c)
	}
	if oe != nil {
		writeOAuthError(w, oe)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// tokenClient finds the public client named by client_id and checks that
// it may use the grant type.
func (s *Server) tokenClient(form url.Values, gt string) (Client, *oauthError) {
	id := form.Get("client_id")
	if id == "" {
		return Client{}, invalidRequest("client_id is required")
	}
	c, ok := s.store.client(id)
	if !ok {
		return Client{}, errInvalidClient
	}
	if !c.allowsGrant(gt) {
		return Client{}, errUnauthorized
	}
	return c, nil
}

// respond mints an access token for g with the given scopes and builds the
// token response with the refresh token rt.
func (s *Server) respond(g grant, scopes []string, rt secret.Value, now time.Time) (*tokenResponse, *oauthError) {
	at, jti, err := s.mintAccessToken(g, scopes, now)
	if err != nil {
		s.log.Error("authserver: sign access token", "err", err)
		return nil, errServer
	}
	// The callers that pass a refresh token hold st.mu.
	var fam string
	if !rt.IsZero() {
		fam = s.store.refresh[hashOf(rt)]
	}
	s.issued.add(secret.New(at), issuedToken{grant: g, scopes: scopes, jti: jti, iat: now,
		exp: now.Add(s.cfg.TokenTTL), family: fam}, now)
	s.log.Info("authserver: token issued", "sub", g.user, "client_id", g.clientID, "jti", jti, "aud", g.resource)
	typ := "Bearer"
	if g.jkt != "" {
		typ = "DPoP"
	}
	return &tokenResponse{
		AccessToken: at, TokenType: typ, ExpiresIn: int64(s.cfg.TokenTTL / time.Second),
		RefreshToken: rt.Reveal(), Scope: joinScopes(scopes),
	}, nil
}

// narrowScope applies an optional scope parameter: it may only select a
// subset of the granted scopes (RFC 6749 §6).
func narrowScope(form url.Values, granted []string) ([]string, *oauthError) {
	return parseScope(form.Get("scope"), granted, granted)
}

// grantResource checks an optional resource parameter against the one the
// grant was issued for.
func (s *Server) grantResource(form url.Values, granted string) *oauthError {
	if form.Get("resource") == "" {
		return nil
	}
	res, oe := s.checkResource(form.Get("resource"))
	if oe != nil || res != granted {
		return errInvalidTarget
	}
	return nil
}

// writeJSON writes a token-endpoint style JSON response, never cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeOAuthError(w http.ResponseWriter, oe *oauthError) {
	writeJSON(w, oe.status, oe)
}
