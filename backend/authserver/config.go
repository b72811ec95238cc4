package authserver

import (
	"crypto/ecdsa"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// Defaults and limits for Config.
const (
	DefaultTokenTTL   = 15 * time.Minute
	DefaultRefreshTTL = 30 * 24 * time.Hour
	MaxTokenTTL       = 24 * time.Hour
)

// Client is a public OAuth client (no secret).
type Client struct {
	// ID is the client_id.
	ID string
	// RedirectURIs are the registered redirect URIs. A loopback URI
	// (http://127.0.0.1/... or http://[::1]/...) matches any port.
	RedirectURIs []string
	// Scopes are the scopes the client may ask for.
	Scopes []string
	// DefaultScopes are granted when a request names no scope.
	DefaultScopes []string
	// Name is shown on the consent page.
	Name string

	grants  []string // nil: every grant type; set for registered clients
	dynamic bool     // registered through /register
	dpopJKT string   // at /token: the thumbprint of the request's DPoP proof
}

// DefaultClients returns the client list used when Config.Clients is nil:
// the public client "relay" with loopback redirect URIs on any port. It may
// ask for notes:read, notes:write and admin, and gets notes:read and
// notes:write by default (admin needs a step-up request).
func DefaultClients() []Client {
	return []Client{{
		ID:            "relay",
		Name:          "keyrelay",
		RedirectURIs:  []string{"http://127.0.0.1/callback", "http://[::1]/callback"},
		Scopes:        []string{"notes:read", "notes:write", "admin"},
		DefaultScopes: []string{"notes:read", "notes:write"},
	}}
}

// Config configures a Server. Only Issuer and Users are required.
type Config struct {
	// Issuer is the exact issuer identifier, e.g. "http://127.0.0.1:5002",
	// with no trailing slash, query or fragment. Routes are mounted under its
	// path, and it is the tokens' iss claim byte for byte.
	Issuer string
	// Resources are the allowed RFC 8707 resource values. Resources[0] is the
	// aud when a request names no resource. Default: []string{Issuer}.
	Resources []string
	// Scopes is scopes_supported. Default: the union of the clients' scopes.
	Scopes []string
	// Clients are pre-registered public clients. Default: DefaultClients().
	Clients []Client
	// MachineClients are confidential clients that sign in with the
	// client_credentials grant (SEP-1046), with a secret or a JWKS.
	// Default: none, and the grant is not offered.
	MachineClients []MachineClient
	// TrustedIdPs are the enterprise identity providers whose ID-JAGs a
	// machine client may present in the jwt-bearer grant (cross-app
	// access, SEP-990, idjag.go). Default: none, and the grant is not
	// offered.
	TrustedIdPs []TrustedIdP
	// RegisteredDefaultScopes are the default scopes of a client registered
	// through /register: what it gets when a request names no scope. It
	// may still ask by name for any other scope it registered (every scope
	// of Scopes when it names none), as a step-up for admin does. Default:
	// the union of the Clients' DefaultScopes, so that a self-registered
	// client gets no more by default than a pre-registered one. An empty,
	// non-nil slice gives registered clients no default scope.
	RegisteredDefaultScopes []string
	// Users may log in. At least one is required.
	Users []User
	// TokenTTL is the access token lifetime. Default 15 min, at most 24 h.
	TokenTTL time.Duration
	// RefreshTTL is how long a refresh token family lives after its last
	// use. Default 30 days.
	RefreshTTL time.Duration
	// HMACSecret, if not empty, selects HS256 signing. It must be at least
	// 32 bytes long. It prints as REDACTED (fmt, slog, encoding/json); the
	// empty (zero) Value selects ES256, so no token is ever signed with an
	// empty HMAC key.
	HMACSecret secret.Value
	// SigningKey is the P-256 key for ES256 when HMACSecret is empty. A key is
	// generated if nil; see LoadOrCreateKey to keep one in a file.
	SigningKey *ecdsa.PrivateKey
	// Logger receives events with sub, client_id and jti, never a secret.
	// Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// TokenFormat is TokenJWT (the default) or TokenOpaque: random access
	// tokens that only /introspect can read.
	TokenFormat string
	// DPoP accepts DPoP proofs at /token (RFC 9449), advertises
	// dpop_signing_alg_values_supported, and binds the tokens of a request
	// with a proof to its key. Default off; the backend turns it on.
	DPoP bool
	// DPoPNonce makes every proof carry a nonce the server gave
	// (DPoP-Nonce, RFC 9449 §8). Needs DPoP.
	DPoPNonce bool
}

// Access token formats (Config.TokenFormat).
const (
	TokenJWT    = "jwt"
	TokenOpaque = "opaque"
)

// normalize applies defaults and checks the configuration.
func (c Config) normalize() (Config, error) {
	if err := checkIssuer(c.Issuer); err != nil {
		return c, err
	}
	if c.Clients == nil {
		c.Clients = DefaultClients()
	}
	if c.Resources == nil {
		c.Resources = []string{c.Issuer}
	}
	if c.Scopes == nil {
		c.Scopes = unionScopes(c.Clients, func(cl Client) []string { return cl.Scopes })
	}
	if c.RegisteredDefaultScopes == nil {
		c.RegisteredDefaultScopes = unionScopes(c.Clients, func(cl Client) []string { return cl.DefaultScopes })
	}
	c = c.withTimeDefaults()
	if c.TokenTTL <= 0 || c.TokenTTL > MaxTokenTTL || c.RefreshTTL <= 0 {
		return c, fmt.Errorf("%w: token lifetime must be in (0, 24h] and refresh lifetime positive", ErrConfig)
	}
	if len(c.Users) == 0 {
		return c, fmt.Errorf("%w: no users", ErrConfig)
	}
	if c.TokenFormat == "" {
		c.TokenFormat = TokenJWT
	}
	if c.TokenFormat != TokenJWT && c.TokenFormat != TokenOpaque {
		return c, fmt.Errorf("%w: token format must be jwt or opaque", ErrConfig)
	}
	if c.DPoPNonce && !c.DPoP {
		return c, fmt.Errorf("%w: DPoP nonces need DPoP", ErrConfig)
	}
	if !c.HMACSecret.IsZero() && len(c.HMACSecret.Reveal()) < 32 {
		return c, ErrShortSecret
	}
	for _, check := range []func() error{c.checkResources, c.checkScopes, c.checkClients, c.checkMachineClients, c.checkTrustedIdPs} {
		if err := check(); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (c Config) withTimeDefaults() Config {
	if c.TokenTTL == 0 {
		c.TokenTTL = DefaultTokenTTL
	}
	if c.RefreshTTL == 0 {
		c.RefreshTTL = DefaultRefreshTTL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func checkIssuer(iss string) error {
	u, err := url.Parse(iss)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(iss, "?#") ||
		strings.HasSuffix(iss, "/") || u.String() != iss {
		return fmt.Errorf("%w: issuer must be an http(s) URL without query, fragment or trailing slash", ErrConfig)
	}
	return nil
}

func (c Config) checkResources() error {
	if len(c.Resources) == 0 {
		return fmt.Errorf("%w: no resources", ErrConfig)
	}
	for i, r := range c.Resources {
		u, err := url.Parse(r)
		if err != nil || !u.IsAbs() || strings.Contains(r, "#") {
			return fmt.Errorf("%w: resource %d is not an absolute URI without fragment", ErrConfig, i)
		}
	}
	return nil
}

func (c Config) checkScopes() error {
	for _, s := range c.Scopes {
		if !validScopeToken(s) {
			return fmt.Errorf("%w: scope %q is not a valid scope token", ErrConfig, s)
		}
	}
	if !subset(c.RegisteredDefaultScopes, c.Scopes) {
		return fmt.Errorf("%w: registered clients' default scopes are not within scopes_supported", ErrConfig)
	}
	return nil
}

func (c Config) checkClients() error {
	seen := map[string]bool{}
	for i, cl := range c.Clients {
		if cl.ID == "" || seen[cl.ID] || len(cl.RedirectURIs) == 0 {
			return fmt.Errorf("%w: client %d needs a unique id and redirect URIs", ErrConfig, i)
		}
		seen[cl.ID] = true
		for _, r := range cl.RedirectURIs {
			if u, err := url.Parse(r); err != nil || !u.IsAbs() || strings.Contains(r, "#") {
				return fmt.Errorf("%w: client %q: bad redirect URI", ErrConfig, cl.ID)
			}
		}
		if !subset(cl.Scopes, c.Scopes) || !subset(cl.DefaultScopes, cl.Scopes) {
			return fmt.Errorf("%w: client %q: scopes not within scopes_supported, or defaults not allowed", ErrConfig, cl.ID)
		}
	}
	return nil
}

// unionScopes is the union of one scope list of each client, in order.
func unionScopes(clients []Client, list func(Client) []string) []string {
	var out []string
	for _, cl := range clients {
		for _, s := range list(cl) {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

func subset(a, b []string) bool {
	for _, s := range a {
		if !slices.Contains(b, s) {
			return false
		}
	}
	return true
}
