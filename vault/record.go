package vault

import (
	"slices"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// Account is the key of a Record.
type Account struct {
	Issuer   string // authorization server issuer URL
	ClientID string // the configured OAuth client id; empty when the client registers dynamically
	Resource string // the protected resource (RFC 8707), e.g. the MCP server URL
	// Server is the URL the tokens are for (the MCP server or the
	// backend) when Resource does not name it: with no resource, or one
	// shared by several servers. Tokens of two servers never share a
	// record.
	Server string
}

// Record is what the vault keeps for one Account. Token fields are
// secret.Value so that a Record never prints them.
type Record struct {
	AccessToken  secret.Value
	RefreshToken secret.Value
	// IDToken is an OpenID Connect ID token: only an identity provider's
	// session (cross-app access) keeps one.
	IDToken   secret.Value
	TokenType string
	Scopes    []string
	Subject   string
	Expiry    time.Time // absolute; zero if the server gave none

	// Registration is the dynamic client registration (RFC 7591) used for
	// this account, if any.
	Registration *Registration

	// Updated is set by the vault when the record is written.
	Updated time.Time

	// SignedIn is when the interactive sign-in behind these tokens
	// happened; refreshes keep it. Zero if unknown (older records).
	SignedIn time.Time

	// DPoPKey is the private key the tokens are bound to (RFC 9449), as
	// PKCS #8 DER in base64, and DPoPAlg its algorithm; empty for none
	// (older records, servers without DPoP). It is sealed with the
	// tokens and goes with them.
	DPoPKey secret.Value
	DPoPAlg string
}

// Registration is a dynamically registered OAuth client.
type Registration struct {
	ClientID              string
	ClientSecret          secret.Value // empty for public clients
	ClientSecretExpiresAt time.Time    // zero: does not expire
	// RegistrationAccessToken and RegistrationClientURI manage the client
	// (RFC 7592), if the server supports it.
	RegistrationAccessToken secret.Value
	RegistrationClientURI   string
	RedirectURIs            []string
	IssuedAt                time.Time
	// TokenEndpointAuthMethod is how the client authenticates at the
	// token endpoint, as the server's answer said (RFC 7591 §3.2.1);
	// empty when it did not say.
	TokenEndpointAuthMethod string
}

// clone returns a deep copy, so callbacks cannot alias the vault's state.
func (r *Record) clone() *Record {
	if r == nil {
		return nil
	}
	c := *r
	c.Scopes = slices.Clone(r.Scopes)
	if r.Registration != nil {
		reg := *r.Registration
		reg.RedirectURIs = slices.Clone(r.Registration.RedirectURIs)
		c.Registration = &reg
	}
	return &c
}
