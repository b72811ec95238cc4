package login

import (
	"context"
	"errors"
	"fmt"
	"time"

	"slices"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/vault"
)

// FallbackClientID is used when no client id is configured and the server
// offers neither metadata documents nor registration: the public client
// keyrelay's built-in authorization server registers in advance.
const FallbackClientID = "relay"

// Registry keeps dynamic client registrations; *vault.Vault implements it.
// A registration is stored under the account {Issuer: issuer}.
type Registry interface {
	Get(ctx context.Context, acct vault.Account) (vault.Record, error)
	Update(ctx context.Context, acct vault.Account, fn func(*vault.Record) (*vault.Record, error)) error
}

var _ Registry = (*vault.Vault)(nil)

// AccountClientID is the client id part of the vault account: the static
// id, the metadata document URL, or "" for a dynamic registration, so the
// account is known before any network call.
func (i *Interactive) AccountClientID() string {
	if i.Client.ClientID != "" {
		return i.Client.ClientID
	}
	return i.ClientMetadataURL
}

// clientID resolves the client id, in the order of the MCP authorization
// spec: a static RELAY_CLIENT_ID; a Client ID Metadata Document when the
// server supports them and RELAY_CLIENT_METADATA_URL is set; dynamic
// registration (RFC 7591), kept in the vault per issuer; else "relay".
// A registration not yet loaded gives broker.ErrReprepare: it needs the
// vault, whose lock the caller may hold.
func (i *Interactive) clientID(md *oauth.Metadata) (string, error) {
	switch {
	case i.Client.ClientID != "":
		return i.Client.ClientID, nil
	case i.ClientMetadataURL != "" && md.ClientIDMetadataDocumentSupported:
		return i.ClientMetadataURL, nil
	case md.RegistrationEndpoint != "" && i.Registry != nil:
		i.mu.Lock()
		id := i.regID
		i.mu.Unlock()
		if id == "" {
			return "", fmt.Errorf("client registration needed: %w", broker.ErrReprepare)
		}
		return id, nil
	}
	return FallbackClientID, nil
}

// Prepare loads the client's stored secret (a static client) or its
// dynamic registration, registering the client if there is none or if the
// stored one went stale. It needs the vault's lock, so the broker calls it
// outside.
func (i *Interactive) Prepare(ctx context.Context) error { return i.prepare(ctx, true) }

func (i *Interactive) prepare(ctx context.Context, register bool) error {
	md, err := i.Metadata(ctx)
	if err != nil || i.Registry == nil {
		return err
	}
	if i.Client.ClientID != "" {
		if err := i.loadSecret(ctx, md.Issuer); err != nil || !register {
			return err
		}
		return i.prepareIdP(ctx)
	}
	if md.RegistrationEndpoint == "" || (i.ClientMetadataURL != "" && md.ClientIDMetadataDocumentSupported) {
		return nil
	}
	i.mu.Lock()
	staleID := i.staleID
	i.mu.Unlock()
	reg, err := i.registered(ctx, md, staleID, register)
	if err != nil || reg == nil {
		return err
	}
	i.mu.Lock()
	i.regID, i.regSecret, i.regMethod, i.staleID = reg.ClientID, reg.ClientSecret, reg.TokenEndpointAuthMethod, ""
	i.mu.Unlock()
	return nil
}

// Records that are not tokens live under accounts whose Resource is one of
// these markers, which no token account can have (a resource is an
// absolute URI or empty): a token record and a client record never share
// a key, even with RELAY_RESOURCE=off.
const (
	RegistrationResource = "keyrelay:client-registration"
	SecretResource       = "keyrelay:client-secret"
)

// RegistrationAccount keys the dynamic registration for an issuer.
func RegistrationAccount(issuer string) vault.Account {
	return vault.Account{Issuer: issuer, Resource: RegistrationResource}
}

// registered returns the stored registration for the issuer, registering
// first if there is none, if the stored one is the one found stale
// (staleID), or if its redirect URIs no longer fit. A registration another
// process made meanwhile is adopted, not replaced. With register false it
// only reads.
func (i *Interactive) registered(ctx context.Context, md *oauth.Metadata, staleID string, register bool) (*vault.Registration, error) {
	var out *vault.Registration
	err := i.Registry.Update(ctx, RegistrationAccount(md.Issuer), func(cur *vault.Record) (*vault.Record, error) {
		if cur != nil && cur.Registration != nil && cur.Registration.ClientID != "" &&
			cur.Registration.ClientID != staleID && slices.Equal(cur.Registration.RedirectURIs, i.redirectURIs()) {
			out = cur.Registration
			return cur, nil
		}
		if !register {
			return cur, nil
		}
		reg, err := oauth.Register(ctx, i.Client.HTTP, md, oauth.RegistrationRequest{
			ClientName: "keyrelay", RedirectURIs: i.redirectURIs(), DeviceGrant: md.DeviceAuthorizationEndpoint != "",
		})
		if err != nil {
			return nil, registrationError(err)
		}
		out = &vault.Registration{ClientID: reg.ClientID, ClientSecret: reg.ClientSecret,
			ClientSecretExpiresAt: reg.ClientSecretExpiresAt, RegistrationAccessToken: reg.RegistrationAccessToken,
			RegistrationClientURI: reg.RegistrationClientURI, RedirectURIs: i.redirectURIs(), IssuedAt: time.Now(),
			TokenEndpointAuthMethod: secretMethod(reg)}
		return &vault.Record{Registration: out}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// secretMethod is the token_endpoint_auth_method of a registration to
// keep: one the relay can use, and only with a secret (without one the
// client authenticates with none whatever the server said), so that the
// vault records of the usual public client do not change.
func secretMethod(reg *oauth.Registration) string {
	switch m := reg.TokenEndpointAuthMethod; {
	case reg.ClientSecret.IsZero():
		return ""
	case m == oauth.AuthBasic || m == oauth.AuthPost || m == oauth.AuthNone:
		return m
	}
	return ""
}

// RegistrationError is a dynamic registration the authorization server
// refused (an OAuth error or a malformed answer): too many clients, a
// policy against dynamic clients, a redirect URI it will not take. Its
// text names the way out, a client registered in advance
// (RELAY_CLIENT_ID); the relay does not fall back to one by itself, as the
// server would have to know it.
type RegistrationError struct{ Err error }

func (e *RegistrationError) Error() string {
	return "the authorization server refused to register keyrelay as a client (" + secret.Scrub(e.Err.Error(), 300) +
		"); set RELAY_CLIENT_ID to the id of a client registered there in advance (keyrelay's built-in server has \"" +
		FallbackClientID + "\")"
}

// UserText is what the person sees: the same.
func (e *RegistrationError) UserText() string { return e.Error() }

func (e *RegistrationError) Unwrap() error { return e.Err }

// registrationError marks a refusal by the server as a *RegistrationError;
// a failure to reach it stays as it is.
func registrationError(err error) error {
	var oe *oauth.Error
	if errors.As(err, &oe) || errors.Is(err, oauth.ErrBadResponse) || errors.Is(err, oauth.ErrRedirect) {
		return &RegistrationError{Err: err}
	}
	return fmt.Errorf("dynamic client registration: %w", err)
}

// redirectURIs are the ones to register: the callback's redirect URI,
// without a port when it is random (oauth.DefaultRedirectURI by default).
func (i *Interactive) redirectURIs() []string {
	return []string{i.callback().RedirectURI()}
}

// callback is where the loopback callback listens.
func (i *Interactive) callback() oauth.Callback {
	return oauth.Callback{Port: i.Port, Host: i.CallbackHost, Path: i.CallbackPath}
}

// staleRegistration handles invalid_client: a dynamic registration the
// server no longer knows is marked stale, for Prepare to replace. It
// reports whether it did; it never marks a registration this process has
// already replaced once (no loop).
func (i *Interactive) staleRegistration(err error) bool {
	if !errors.Is(err, oauth.ErrInvalidClient) || i.Client.ClientID != "" || i.Registry == nil {
		return false
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.replaced || i.regID == "" {
		return false
	}
	i.staleID, i.regID, i.regSecret, i.regMethod, i.replaced = i.regID, "", secret.Value{}, "", true
	i.log().Warn("the server no longer knows this client; registering again once")
	return true
}

// secretAccount keys a static client's secret in the vault, apart from
// tokens and registrations.
func (i *Interactive) secretAccount(issuer string) vault.Account {
	return vault.Account{Issuer: issuer, ClientID: i.Client.ClientID, Resource: SecretResource}
}

// clientSecret returns the client's secret: a dynamic registration's (if
// the server issued one), or a static client's once Prepare has loaded it
// (until then it asks for Prepare, which needs the vault).
func (i *Interactive) clientSecret() (secret.Value, error) {
	sec, _, err := i.credential()
	return sec, err
}

// credential is clientSecret, and whether it is a PEM private key for
// private_key_jwt rather than a secret.
func (i *Interactive) credential() (sec secret.Value, isKey bool, err error) {
	if i.Registry == nil {
		if !i.ClientKey.IsZero() {
			return i.ClientKey, true, nil
		}
		return i.ClientSecret, false, nil
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.Client.ClientID == "" {
		return i.regSecret, false, nil
	}
	if !i.secretLoaded {
		return secret.Value{}, false, fmt.Errorf("client secret not loaded: %w", broker.ErrReprepare)
	}
	return i.secret, i.secretIsKey, nil
}

// authMethod is how the client authenticates with its secret: a dynamic
// registration's token_endpoint_auth_method, as the server answered it;
// "" for a static client, so that oauth.Client chooses from the server's
// metadata.
func (i *Interactive) authMethod() string {
	if i.Client.ClientID != "" || i.Registry == nil {
		return i.Client.AuthMethod
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.regMethod
}

// loadSecret stores the static client's credential in the vault when it
// is given (RELAY_CLIENT_SECRET, or the key of RELAY_CLIENT_KEY_FILE,
// marked with token_endpoint_auth_method private_key_jwt), and otherwise
// reads the one stored at an earlier run, if any.
func (i *Interactive) loadSecret(ctx context.Context, issuer string) error {
	sec, method := i.ClientSecret, ""
	if !i.ClientKey.IsZero() {
		sec, method = i.ClientKey, oauth.AuthJWT
	}
	err := i.Registry.Update(ctx, i.secretAccount(issuer), func(cur *vault.Record) (*vault.Record, error) {
		if sec.IsZero() {
			if cur != nil && cur.Registration != nil && cur.Registration.ClientID == i.Client.ClientID {
				sec, method = cur.Registration.ClientSecret, cur.Registration.TokenEndpointAuthMethod
			}
			return cur, nil
		}
		if cur != nil && cur.Registration != nil && cur.Registration.ClientSecret.Equal(sec) && cur.Registration.TokenEndpointAuthMethod == method {
			return cur, nil
		}
		return &vault.Record{Registration: &vault.Registration{ClientID: i.Client.ClientID, ClientSecret: sec,
			TokenEndpointAuthMethod: method, IssuedAt: time.Now()}}, nil
	})
	if err != nil {
		return err
	}
	i.mu.Lock()
	i.secret, i.secretIsKey, i.secretLoaded = sec, method == oauth.AuthJWT, true
	i.mu.Unlock()
	return nil
}
