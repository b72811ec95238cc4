package authserver

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// ClientCredentialsGrantType is the OAuth 2.1 §4.2 grant type.
const ClientCredentialsGrantType = "client_credentials"

// assertionType is RFC 7523 §2.2's client_assertion_type.
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// maxAssertionLife bounds how far a client assertion's exp may be: an
// assertion is made for one request.
const maxAssertionLife = 10 * time.Minute

// MachineClient is a confidential client that signs in without a person,
// with the client_credentials grant: it authenticates with a Secret
// (client_secret_basic or client_secret_post) or with a JWT signed by a
// key of its public JWKS (private_key_jwt, RFC 7523 §2.2), exactly one.
// Its tokens carry the client id as sub.
type MachineClient struct {
	ID     string
	Secret secret.Value
	// Keys are the public keys of the client's JWKS: *ecdsa.PublicKey
	// (P-256), *rsa.PublicKey (2048 bits or more) or ed25519.PublicKey.
	Keys []any
	// Scopes are the scopes it may ask for; all of them when it names
	// none.
	Scopes []string
	// Introspect makes it a resource server: it may call /introspect
	// (RFC 7662), and may not use client_credentials.
	Introspect bool
	// Resources, for a resource server, are the resources (of
	// Config.Resources) whose tokens /introspect tells it about: a token
	// for any other is {"active": false} to it, so one resource server
	// cannot read who holds another's tokens (RFC 7662 §4). Every
	// resource when empty.
	Resources []string
}

// machineFile is the JSON form of MachineClient, ParseMachineClients.
type machineFile struct {
	ClientID     string          `json:"client_id"`
	ClientSecret string          `json:"client_secret,omitempty"`
	JWKS         json.RawMessage `json:"jwks,omitempty"`
	Scopes       []string        `json:"scopes"`
	Introspect   bool            `json:"introspect,omitempty"`
	Resources    []string        `json:"resources,omitempty"`
}

// ParseMachineClients reads a JSON list of machine clients:
//
//	[{"client_id": "ci", "client_secret": "…", "scopes": ["notes:read"]},
//	 {"client_id": "ci-key", "jwks": {"keys": [{"kty": "EC", …}]}, "scopes": ["notes:read"]}]
//
// Errors name the client, never a secret.
func ParseMachineClients(b []byte) ([]MachineClient, error) {
	var raw []machineFile
	if err := decodeList(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: machine clients: not a JSON list of {client_id, client_secret or jwks, scopes}", ErrConfig)
	}
	out := make([]MachineClient, 0, len(raw))
	for i, r := range raw {
		mc := MachineClient{ID: r.ClientID, Secret: secret.New(r.ClientSecret), Scopes: r.Scopes, Introspect: r.Introspect, Resources: r.Resources}
		if len(r.JWKS) > 0 {
			keys, err := parseJWKS(r.JWKS)
			if err != nil {
				return nil, fmt.Errorf("%w: machine client %d: %v", ErrConfig, i, err)
			}
			mc.Keys = keys
		}
		out = append(out, mc)
	}
	return out, nil
}

// parseJWKS returns the public keys of a JWK set given inline in a
// configuration file.
func parseJWKS(raw json.RawMessage) ([]any, error) {
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, errors.New("jwks is not a JWK set")
	}
	jwks, err := set.JWKSlice()
	if err != nil {
		return nil, fmt.Errorf("jwks: %v", err)
	}
	keys := make([]any, 0, len(jwks))
	for _, k := range jwks {
		keys = append(keys, k.Key())
	}
	return keys, nil
}

// checkMachineClients: unique ids apart from the public clients', one
// credential each, usable keys, scopes within scopes_supported.
func (c Config) checkMachineClients() error {
	seen := map[string]bool{}
	for _, cl := range c.Clients {
		seen[cl.ID] = true
	}
	for i, mc := range c.MachineClients {
		if mc.ID == "" || seen[mc.ID] {
			return fmt.Errorf("%w: machine client %d needs a unique id", ErrConfig, i)
		}
		seen[mc.ID] = true
		if mc.Secret.IsZero() == (len(mc.Keys) == 0) {
			return fmt.Errorf("%w: machine client %q needs a secret or a jwks, not both", ErrConfig, mc.ID)
		}
		if !mc.Secret.IsZero() && len(mc.Secret.Reveal()) < 16 {
			return fmt.Errorf("%w: machine client %q: the secret must be at least 16 characters", ErrConfig, mc.ID)
		}
		if !usableKeys(mc.Keys) {
			return fmt.Errorf("%w: machine client %q: %s", ErrConfig, mc.ID, errUnusableKey)
		}
		if !subset(mc.Scopes, c.Scopes) {
			return fmt.Errorf("%w: machine client %q: scopes not within scopes_supported", ErrConfig, mc.ID)
		}
		if len(mc.Resources) > 0 && !mc.Introspect {
			return fmt.Errorf("%w: machine client %q: resources is for a resource server (introspect) only", ErrConfig, mc.ID)
		}
		if !subset(mc.Resources, c.Resources) {
			return fmt.Errorf("%w: machine client %q: resources not among the server's resources", ErrConfig, mc.ID)
		}
	}
	return nil
}

// decodeList decodes a configuration file's JSON list into v, refusing
// members it does not know.
func decodeList(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// errUnusableKey is what a configuration error says of a key keyAlg
// refuses.
const errUnusableKey = "a key is not EC P-256, RSA of 2048 bits or more, or Ed25519"

// usableKeys reports whether keyAlg accepts every key of keys.
func usableKeys(keys []any) bool {
	return !slices.ContainsFunc(keys, func(k any) bool { return keyAlg(k) == "" })
}

// keyAlg is the one algorithm a public key verifies, "" for a key that
// is refused.
func keyAlg(k any) string {
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		if k.Curve.Params().Name == "P-256" {
			return "ES256"
		}
	case *rsa.PublicKey:
		if k.N.BitLen() >= 2048 {
			return "RS256"
		}
	case ed25519.PublicKey:
		return "EdDSA"
	}
	return ""
}

// jtiCache remembers the jti of the assertions seen until they expire,
// so an assertion is accepted once (RFC 7523 §3, item 7).
type jtiCache struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

const maxJTIs = 100000

// fresh records jti until exp and reports whether it was new.
func (c *jtiCache) fresh(jti string, exp, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]time.Time{}
	}
	if len(c.seen) >= maxJTIs {
		for k, e := range c.seen {
			if !e.After(now) {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= maxJTIs {
			return false
		}
	}
	if e, ok := c.seen[jti]; ok && e.After(now) {
		return false
	}
	c.seen[jti] = exp
	return true
}

// machineClient finds the machine client of a client_credentials request
// and authenticates it: HTTP Basic, client_secret in the form, or a
// client assertion. Every failure is invalid_client (RFC 6749 §5.2),
// with no hint at which part was wrong.
func (s *Server) machineClient(r *http.Request, form url.Values) (MachineClient, *oauthError) {
	id, sec, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		sec, err2 = url.QueryUnescape(sec)
		if err1 != nil || err2 != nil || form.Get("client_secret") != "" || form.Get("client_assertion") != "" {
			return MachineClient{}, invalidRequest("use one client authentication method")
		}
		if form.Get("client_id") != "" && form.Get("client_id") != id {
			return MachineClient{}, invalidRequest("client_id differs from the authenticated client")
		}
	} else if r.Header.Get("Authorization") != "" {
		return MachineClient{}, invalidRequest("only Basic client authentication is supported in the Authorization header")
	} else {
		id, sec = form.Get("client_id"), form.Get("client_secret")
	}
	i := slices.IndexFunc(s.cfg.MachineClients, func(mc MachineClient) bool { return mc.ID == id })
	if id == "" || i < 0 {
		return MachineClient{}, errInvalidClient
	}
	mc := s.cfg.MachineClients[i]
	switch {
	case form.Get("client_assertion") != "":
		if sec != "" || form.Get("client_assertion_type") != assertionType || len(mc.Keys) == 0 {
			return MachineClient{}, errInvalidClient
		}
		if err := s.checkAssertion(mc, form.Get("client_assertion")); err != nil {
			s.log.Info("authserver: client assertion refused", "client_id", mc.ID, "err", err)
			return MachineClient{}, errInvalidClient
		}
	case sec != "" && !mc.Secret.IsZero():
		a, b := sha256.Sum256([]byte(sec)), sha256.Sum256([]byte(mc.Secret.Reveal()))
		if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
			return MachineClient{}, errInvalidClient
		}
	default:
		return MachineClient{}, errInvalidClient
	}
	return mc, nil
}

// checkAssertion verifies a private_key_jwt assertion (RFC 7523 §3): a
// signature by one of the client's keys with that key's algorithm; iss =
// sub = the client id; aud naming the issuer or the token endpoint; an
// exp at most maxAssertionLife ahead; a jti not seen before.
func (s *Server) checkAssertion(mc MachineClient, assertion string) error {
	now := s.now()
	var lastErr error = errors.New("no key")
	for _, k := range mc.Keys {
		claims := jwt.RegisteredClaims{}
		_, err := jwt.ParseWithClaims(assertion, &claims, func(*jwt.Token) (any, error) { return k, nil },
			jwt.WithValidMethods([]string{keyAlg(k)}), jwt.WithExpirationRequired(), jwt.WithIssuer(mc.ID),
			jwt.WithSubject(mc.ID), jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithLeeway(30*time.Second))
		if err != nil {
			lastErr = err
			continue
		}
		if !slices.ContainsFunc(claims.Audience, func(a string) bool {
			return a == s.cfg.Issuer || a == s.cfg.Issuer+"/" || a == s.cfg.Issuer+"/token"
		}) {
			return errors.New("aud names neither the issuer nor the token endpoint")
		}
		if claims.ExpiresAt.Sub(now) > maxAssertionLife {
			return errors.New("exp is too far ahead")
		}
		if claims.ID == "" || !s.jtis.fresh(mc.ID+" "+claims.ID, claims.ExpiresAt.Time.Add(30*time.Second), now) {
			return errors.New("jti missing or already used")
		}
		return nil
	}
	return lastErr
}

// clientCredentialsGrant serves grant_type=client_credentials: no refresh
// token (OAuth 2.1 §4.2.3), sub = the client id.
func (s *Server) clientCredentialsGrant(r *http.Request, form url.Values) (*tokenResponse, *oauthError) {
	mc, oe := s.machineClient(r, form)
	if oe != nil {
		return nil, oe
	}
	if mc.Introspect {
		return nil, errUnauthorized
	}
	scopes, oe := parseScope(form.Get("scope"), mc.Scopes, mc.Scopes)
	if oe != nil {
		return nil, oe
	}
	resource, oe := s.checkResource(form.Get("resource"))
	if oe != nil {
		return nil, oe
	}
	return s.respond(grant{clientID: mc.ID, user: mc.ID, scopes: scopes, resource: resource, jkt: jktOf(r)}, scopes, secret.Value{}, s.now())
}
