package login

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// Prepare loads the dynamic registration for the issuer, registering the
// client if there is none, or anew if the last one went stale. It needs
// the vault's lock, so the broker calls it outside.
func (i *Interactive) Prepare(ctx context.Context) error {
	md, err := i.Metadata(ctx)
	if err == nil && i.Client.ClientID != "" && i.Registry != nil {
		return i.loadSecret(ctx, md.Issuer)
	}
	if err != nil || i.Client.ClientID != "" || md.RegistrationEndpoint == "" || i.Registry == nil ||
		(i.ClientMetadataURL != "" && md.ClientIDMetadataDocumentSupported) {
		return err
	}
	i.mu.Lock()
	stale := i.stale
	i.stale = false
	i.mu.Unlock()
	if stale {
		if err := i.Registry.Update(ctx, regAccount(md.Issuer), func(*vault.Record) (*vault.Record, error) { return nil, nil }); err != nil {
			return err
		}
	}
	id, err := i.registered(ctx, md)
	if err != nil {
		return err
	}
	i.mu.Lock()
	i.regID = id
	i.mu.Unlock()
	return nil
}

func regAccount(issuer string) vault.Account { return vault.Account{Issuer: issuer} }

// registered returns the stored registration for the issuer, registering
// first if there is none.
func (i *Interactive) registered(ctx context.Context, md *oauth.Metadata) (string, error) {
	var id string
	err := i.Registry.Update(ctx, regAccount(md.Issuer), func(cur *vault.Record) (*vault.Record, error) {
		if cur != nil && cur.Registration != nil && cur.Registration.ClientID != "" {
			id = cur.Registration.ClientID
			return cur, nil
		}
		reg, err := oauth.Register(ctx, i.Client.HTTP, md, oauth.RegistrationRequest{
			ClientName: "keyrelay", RedirectURIs: i.redirectURIs(), DeviceGrant: md.DeviceAuthorizationEndpoint != "",
		})
		if err != nil {
			return nil, fmt.Errorf("dynamic client registration: %w", err)
		}
		id = reg.ClientID
		i.mu.Lock()
		i.fresh = true
		i.mu.Unlock()
		i.log().Info("registered as a dynamic client", "issuer", md.Issuer, "client_id", id)
		return &vault.Record{Registration: &vault.Registration{ClientID: reg.ClientID, ClientSecret: reg.ClientSecret,
			ClientSecretExpiresAt: reg.ClientSecretExpiresAt, RegistrationAccessToken: reg.RegistrationAccessToken,
			RegistrationClientURI: reg.RegistrationClientURI, RedirectURIs: reg.RedirectURIs, IssuedAt: time.Now()}}, nil
	})
	return id, err
}

func (i *Interactive) redirectURIs() []string {
	if i.Port != 0 {
		return []string{fmt.Sprintf("http://127.0.0.1:%d/callback", i.Port)}
	}
	return []string{oauth.DefaultRedirectURI}
}

// staleRegistration handles invalid_client: a dynamic registration the
// server no longer knows is marked stale, for Prepare to replace. It
// reports whether it did; a registration this process made is never
// replaced (no loop).
func (i *Interactive) staleRegistration(err error) bool {
	if !errors.Is(err, oauth.ErrInvalidClient) || i.AccountClientID() != "" || i.Registry == nil {
		return false
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.fresh || i.regID == "" {
		return false
	}
	i.regID, i.stale = "", true
	i.log().Warn("the server no longer knows this client; registering again once")
	return true
}

// secretAccount keys a static client's secret in the vault: apart from the
// dynamic registrations (keyed by issuer alone) and from tokens.
func (i *Interactive) secretAccount(issuer string) vault.Account {
	return vault.Account{Issuer: issuer, ClientID: i.Client.ClientID}
}

// staticSecret returns the static client's secret once Prepare has loaded
// it, or asks for Prepare (which needs the vault) first.
func (i *Interactive) staticSecret() (secret.Value, error) {
	if i.Client.ClientID == "" || i.Registry == nil {
		return i.ClientSecret, nil
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.secretLoaded {
		return secret.Value{}, fmt.Errorf("client secret not loaded: %w", broker.ErrReprepare)
	}
	return i.secret, nil
}

// loadSecret stores RELAY_CLIENT_SECRET in the vault when it is given, and
// otherwise reads the one stored at an earlier run, if any.
func (i *Interactive) loadSecret(ctx context.Context, issuer string) error {
	sec := i.ClientSecret
	err := i.Registry.Update(ctx, i.secretAccount(issuer), func(cur *vault.Record) (*vault.Record, error) {
		if sec.IsZero() {
			if cur != nil && cur.Registration != nil && cur.Registration.ClientID == i.Client.ClientID {
				sec = cur.Registration.ClientSecret
			}
			return cur, nil
		}
		if cur != nil && cur.Registration != nil && cur.Registration.ClientSecret.Equal(sec) {
			return cur, nil
		}
		return &vault.Record{Registration: &vault.Registration{ClientID: i.Client.ClientID, ClientSecret: sec, IssuedAt: time.Now()}}, nil
	})
	if err != nil {
		return err
	}
	i.mu.Lock()
	i.secret, i.secretLoaded = sec, true
	i.mu.Unlock()
	return nil
}
