package authserver

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// issuedToken is what /introspect tells about an access token.
type issuedToken struct {
	grant
	scopes   []string
	jti      string
	iat, exp time.Time
	family   string // the refresh family it came from; "" for none
	revoked  bool
}

// issued remembers every live access token by its hash, whatever its
// format, so /introspect can answer for it. Expired entries are dropped
// at most once a minute.
type issued struct {
	mu        sync.Mutex
	byHash    map[string]*issuedToken
	lastSweep time.Time
}

func (is *issued) add(tok secret.Value, t issuedToken, now time.Time) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.byHash == nil {
		is.byHash = map[string]*issuedToken{}
	}
	if now.Sub(is.lastSweep) >= sweepEvery {
		is.lastSweep = now
		for h, e := range is.byHash {
			if !now.Before(e.exp) {
				delete(is.byHash, h)
			}
		}
	}
	is.byHash[hashOf(tok)] = &t
}

// get returns a copy of the entry for tok.
func (is *issued) get(tok secret.Value) (issuedToken, bool) {
	is.mu.Lock()
	defer is.mu.Unlock()
	e, ok := is.byHash[hashOf(tok)]
	if !ok {
		return issuedToken{}, false
	}
	return *e, true
}

// revoke marks tok revoked, unless clientID names another client; it
// reports whether it revoked a live access token.
func (is *issued) revoke(tok secret.Value, clientID string) bool {
	is.mu.Lock()
	defer is.mu.Unlock()
	e, ok := is.byHash[hashOf(tok)]
	if !ok || e.revoked || (clientID != "" && clientID != e.clientID) {
		return false
	}
	e.revoked = true
	return true
}

// introspection is the RFC 7662 §2.2 answer for an active token.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Nbf       int64  `json:"nbf,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Aud       string `json:"aud,omitempty"`
	Iss       string `json:"iss,omitempty"`
	Jti       string `json:"jti,omitempty"`
	Cnf       *cnf   `json:"cnf,omitempty"`
}

// cnf is the confirmation of a DPoP-bound token (RFC 9449 §6.2).
type cnf struct {
	JKT string `json:"jkt"`
}

// handleIntrospect is RFC 7662 introspection, for the machine clients
// marked "introspect" (resource servers). A token that is unknown,
// expired, revoked, or from a revoked refresh family is {"active":false};
// so is a refresh token, which is not for resource servers, and a token
// for a resource the client does not serve (MachineClient.Resources).
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	form, oe := readForm(w, r, maxFormBytes)
	var mc MachineClient
	if oe == nil {
		if mc, oe = s.machineClient(r, form); oe == nil && !mc.Introspect {
			oe = errInvalidClient
		}
	}
	if oe == nil && form.Get("token") == "" {
		oe = invalidRequest("token is required")
	}
	if oe != nil {
		writeOAuthError(w, oe)
		return
	}
	writeJSON(w, http.StatusOK, s.introspect(secret.New(form.Get("token")), mc.Resources))
}

// introspect is the answer for tok to a resource server that serves
// resources (all when empty).
func (s *Server) introspect(tok secret.Value, resources []string) introspection {
	t, ok := s.issued.get(tok)
	now := s.now()
	if !ok || t.revoked || !now.Before(t.exp) || (len(resources) > 0 && !slices.Contains(resources, t.resource)) {
		return introspection{}
	}
	if t.family != "" {
		st := s.store
		st.mu.Lock()
		f := st.families[t.family]
		live := f != nil && !f.revoked
		st.mu.Unlock()
		if !live {
			return introspection{}
		}
	}
	in := introspection{
		Active: true, Scope: strings.Join(t.scopes, " "), ClientID: t.clientID, TokenType: "Bearer",
		Exp: t.exp.Unix(), Iat: t.iat.Unix(), Nbf: t.iat.Unix(), Sub: t.user, Aud: t.resource,
		Iss: s.cfg.Issuer, Jti: t.jti,
	}
	if t.jkt != "" {
		in.TokenType, in.Cnf = "DPoP", &cnf{JKT: t.jkt}
	}
	return in
}
