package vault

import (
	"fmt"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// Record and Registration implement fmt.Formatter themselves. secret.Value
// already prints REDACTED, but fmt prints a nested *Registration through
// its bad-verb path (for %s, %q, %d...) with method calls turned off, which
// would show the raw secret fields. Formatting a redacted view for every
// verb closes that path.

type recordView struct {
	AccessToken, RefreshToken string
	IDToken                   string
	TokenType                 string
	Scopes                    []string
	Subject                   string
	Expiry                    time.Time
	Registration              *registrationView
	Updated                   time.Time
	SignedIn                  time.Time
	DPoPKey, DPoPAlg          string
}

type registrationView struct {
	ClientID                string
	ClientSecret            string
	ClientSecretExpiresAt   time.Time
	RegistrationAccessToken string
	RegistrationClientURI   string
	RedirectURIs            []string
	IssuedAt                time.Time
	TokenEndpointAuthMethod string
}

// Format prints the record with its secrets as REDACTED, whatever the verb.
func (r Record) Format(f fmt.State, verb rune) {
	v := recordView{
		AccessToken: redacted(r.AccessToken), RefreshToken: redacted(r.RefreshToken), IDToken: redacted(r.IDToken),
		TokenType: r.TokenType, Scopes: r.Scopes, Subject: r.Subject, Expiry: r.Expiry, Updated: r.Updated, SignedIn: r.SignedIn,
		DPoPKey: redacted(r.DPoPKey), DPoPAlg: r.DPoPAlg,
	}
	if r.Registration != nil {
		rv := r.Registration.view()
		v.Registration = &rv
	}
	if verb == 'v' && f.Flag('#') {
		fmt.Fprintf(f, "vault.Record%+v", v)
		return
	}
	fmt.Fprintf(f, "%+v", v)
}

// Format prints the registration with its secrets as REDACTED.
func (g Registration) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprintf(f, "vault.Registration%+v", g.view())
		return
	}
	fmt.Fprintf(f, "%+v", g.view())
}

func (g Registration) view() registrationView {
	return registrationView{
		ClientID: g.ClientID, ClientSecret: redacted(g.ClientSecret),
		ClientSecretExpiresAt:   g.ClientSecretExpiresAt,
		RegistrationAccessToken: redacted(g.RegistrationAccessToken),
		RegistrationClientURI:   g.RegistrationClientURI, RedirectURIs: g.RedirectURIs, IssuedAt: g.IssuedAt,
		TokenEndpointAuthMethod: g.TokenEndpointAuthMethod,
	}
}

// redacted shows whether a secret is set, never its value.
func redacted(v secret.Value) string {
	if v.IsZero() {
		return ""
	}
	return secret.Redacted
}
