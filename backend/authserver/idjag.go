package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// JWTBearerGrantType is RFC 7523 §2.1's grant type: here, for an ID-JAG
// (cross-app access, SEP-990).
const JWTBearerGrantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// idJAGType is the typ header of an identity assertion JWT authorization
// grant (draft-ietf-oauth-identity-assertion-authz-grant).
const idJAGType = "oauth-id-jag+jwt"

// maxIDJAGLife bounds how far an ID-JAG's exp may be: it is made to be
// presented at once.
const maxIDJAGLife = time.Hour

// TrustedIdP is an enterprise identity provider whose ID-JAGs the server
// takes in the jwt-bearer grant (cross-app access): its exact issuer and
// the public keys it signs them with, given (Keys), fetched (JWKSURL), or
// both.
type TrustedIdP struct {
	Issuer string
	// Keys are the public keys of its JWKS: *ecdsa.PublicKey (P-256),
	// *rsa.PublicKey (2048 bits or more) or ed25519.PublicKey.
	Keys []any
	// JWKSURL is its jwks_uri (https, or http on loopback): fetched on
	// first use, and again (at most every 30 s) when no key held
	// verifies a grant, so that the provider can rotate its keys. Keys it
	// cannot use are ignored.
	JWKSURL string
}

// ParseTrustedIdPs reads a JSON list of trusted identity providers, each
// with its public keys, its jwks_uri, or both:
//
//	[{"issuer": "https://idp.example.com", "jwks": {"keys": [{"kty": "EC", …}]}},
//	 {"issuer": "https://login.example.org", "jwks_uri": "https://login.example.org/keys"}]
func ParseTrustedIdPs(b []byte) ([]TrustedIdP, error) {
	var raw []struct {
		Issuer  string          `json:"issuer"`
		JWKS    json.RawMessage `json:"jwks"`
		JWKSURI string          `json:"jwks_uri"`
	}
	if err := decodeList(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: trusted identity providers: not a JSON list of {issuer, jwks}", ErrConfig)
	}
	out := make([]TrustedIdP, 0, len(raw))
	for i, r := range raw {
		idp := TrustedIdP{Issuer: r.Issuer, JWKSURL: r.JWKSURI}
		if len(r.JWKS) == 0 {
			out = append(out, idp)
			continue
		}
		keys, err := parseJWKS(r.JWKS)
		if err != nil {
			return nil, fmt.Errorf("%w: trusted identity provider %d: %v", ErrConfig, i, err)
		}
		idp.Keys = keys
		out = append(out, idp)
	}
	return out, nil
}

// checkTrustedIdPs: unique issuers, usable keys, and a machine client to
// present the grants (client authentication is required).
func (c Config) checkTrustedIdPs() error {
	if len(c.TrustedIdPs) > 0 && !slices.ContainsFunc(c.MachineClients, func(mc MachineClient) bool { return !mc.Introspect }) {
		return fmt.Errorf("%w: trusted identity providers need a machine client to present their grants", ErrConfig)
	}
	seen := map[string]bool{}
	for i, idp := range c.TrustedIdPs {
		if u, err := url.Parse(idp.Issuer); err != nil || !u.IsAbs() || u.Host == "" || seen[idp.Issuer] {
			return fmt.Errorf("%w: trusted identity provider %d needs a unique absolute issuer URL", ErrConfig, i)
		}
		seen[idp.Issuer] = true
		if len(idp.Keys) == 0 && idp.JWKSURL == "" {
			return fmt.Errorf("%w: trusted identity provider %q has no key and no jwks_uri", ErrConfig, idp.Issuer)
		}
		if idp.JWKSURL != "" {
			if err := checkJWKSURL(idp.JWKSURL); err != nil {
				return fmt.Errorf("%w: trusted identity provider %q: %v", ErrConfig, idp.Issuer, err)
			}
		}
		if !usableKeys(idp.Keys) {
			return fmt.Errorf("%w: trusted identity provider %q: %s", ErrConfig, idp.Issuer, errUnusableKey)
		}
	}
	return nil
}

// idJAGClaims are the claims of an ID-JAG the server reads.
type idJAGClaims struct {
	jwt.RegisteredClaims
	ClientID string           `json:"client_id"`
	Resource jwt.ClaimStrings `json:"resource,omitempty"`
	Scope    string           `json:"scope,omitempty"`
}

// errIDJAG is every refusal of an ID-JAG, as the client sees it.
var errIDJAG = oerr("invalid_grant", "the assertion is not an ID-JAG this server accepts")

// jwtBearerGrant serves grant_type=jwt-bearer with an ID-JAG: the
// client authenticates as a machine client does (machine.go); the
// ID-JAG must come from a trusted identity provider, name this server
// as aud and the authenticated client as client_id. The token's sub is
// the ID-JAG's: the person the identity provider signed in. No refresh
// token: the client exchanges again.
func (s *Server) jwtBearerGrant(r *http.Request, form url.Values) (*tokenResponse, *oauthError) {
	mc, oe := s.machineClient(r, form)
	if oe != nil {
		return nil, oe
	}
	if mc.Introspect {
		return nil, errUnauthorized
	}
	c, err := s.checkIDJAG(r.Context(), mc, form.Get("assertion"))
	if err != nil {
		s.log.Info("authserver: ID-JAG refused", "client_id", mc.ID, "err", err)
		return nil, errIDJAG
	}
	allowed := mc.Scopes
	if c.Scope != "" {
		allowed = slices.DeleteFunc(strings.Fields(c.Scope), func(sc string) bool { return !slices.Contains(mc.Scopes, sc) })
	}
	scopes, oe := parseScope(form.Get("scope"), allowed, allowed)
	if oe != nil {
		return nil, oe
	}
	res := form.Get("resource")
	switch {
	case len(c.Resource) > 1:
		return nil, errInvalidTarget
	case len(c.Resource) == 1 && res == "":
		res = c.Resource[0]
	case len(c.Resource) == 1 && res != c.Resource[0]:
		return nil, errInvalidTarget
	}
	resource, oe := s.checkResource(res)
	if oe != nil {
		return nil, oe
	}
	s.log.Info("authserver: ID-JAG accepted", "client_id", mc.ID, "idp", c.Issuer, "sub", c.Subject, "jti", c.ID)
	return s.respond(grant{clientID: mc.ID, user: c.Subject, scopes: scopes, resource: resource, jkt: jktOf(r)}, scopes, secret.Value{}, s.now())
}

// checkIDJAG verifies an ID-JAG: typ oauth-id-jag+jwt; signed by a key
// of the trusted identity provider its iss names, with that key's
// algorithm; aud = this issuer; client_id = the authenticated client; a
// sub; an exp at most maxIDJAGLife ahead; a jti not seen before.
func (s *Server) checkIDJAG(ctx context.Context, mc MachineClient, assertion string) (*idJAGClaims, error) {
	if assertion == "" || len(assertion) > 16<<10 {
		return nil, errors.New("no assertion, or an oversized one")
	}
	var unverified idJAGClaims
	if _, _, err := jwt.NewParser().ParseUnverified(assertion, &unverified); err != nil {
		return nil, errors.New("not a JWT")
	}
	i := slices.IndexFunc(s.cfg.TrustedIdPs, func(t TrustedIdP) bool { return t.Issuer == unverified.Issuer })
	if i < 0 {
		return nil, errors.New("iss is not a trusted identity provider")
	}
	idp := s.cfg.TrustedIdPs[i]
	c, err := s.verifyIDJAG(mc, idp, s.keysOf(ctx, idp, false), assertion)
	if errors.Is(err, errNoKeyVerifies) && idp.JWKSURL != "" {
		// The provider may have rotated its keys: fetch again, at most
		// every jwksRefetch.
		c, err = s.verifyIDJAG(mc, idp, s.keysOf(ctx, idp, true), assertion)
	}
	return c, err
}

// errNoKeyVerifies: no key held verifies the signature.
var errNoKeyVerifies = errors.New("no key of the identity provider verifies the signature")

// verifyIDJAG checks an ID-JAG of idp with keys (see checkIDJAG).
func (s *Server) verifyIDJAG(mc MachineClient, idp TrustedIdP, keys []any, assertion string) (*idJAGClaims, error) {
	now := s.now()
	lastErr := errNoKeyVerifies
	for _, k := range keys {
		c := &idJAGClaims{}
		tok, err := jwt.ParseWithClaims(assertion, c, func(*jwt.Token) (any, error) { return k, nil },
			jwt.WithValidMethods([]string{keyAlg(k)}), jwt.WithExpirationRequired(), jwt.WithIssuer(idp.Issuer),
			jwt.WithAudience(s.cfg.Issuer), jwt.WithIssuedAt(), jwt.WithTimeFunc(func() time.Time { return now }),
			jwt.WithLeeway(30*time.Second))
		if errors.Is(err, jwt.ErrTokenSignatureInvalid) || errors.Is(err, jwt.ErrTokenUnverifiable) {
			continue
		}
		if err != nil {
			lastErr = err
			continue
		}
		switch {
		case tok.Header["typ"] != idJAGType:
			return nil, errors.New("typ is not " + idJAGType)
		case c.ClientID != mc.ID:
			return nil, errors.New("client_id is not the authenticated client")
		case c.Subject == "" || len(c.Subject) > 255:
			return nil, errors.New("no sub")
		case c.ExpiresAt.Sub(now) > maxIDJAGLife:
			return nil, errors.New("exp is too far ahead")
		case c.ID == "" || !s.jtis.fresh("id-jag "+idp.Issuer+" "+c.ID, c.ExpiresAt.Time.Add(30*time.Second), now):
			return nil, errors.New("jti missing or already used")
		}
		return c, nil
	}
	return nil, lastErr
}
