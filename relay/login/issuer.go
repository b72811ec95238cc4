package login

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/relay/policy"
	"github.com/keyrelay/keyrelay/vault"
)

// Account returns the vault account of this relay. The issuer is the
// configured one, else one found earlier in the vault for this backend and
// client, else discovered from the backend (network).
func (i *Interactive) Account(ctx context.Context) (vault.Account, error) {
	iss, err := i.issuer(ctx)
	if err != nil {
		return vault.Account{}, err
	}
	return vault.Account{Issuer: iss, ClientID: i.AccountClientID(), Resource: i.Client.Resource, Server: i.accountServer()}, nil
}

// accountServer is the Server of this relay's account: empty when the
// resource is the server's own URL (the default: the account is already
// the server's), else the server's URL, so that two servers with no
// resource (RELAY_RESOURCE=off), or the same one, never share tokens.
func (i *Interactive) accountServer() string {
	if i.Client.Resource != "" && i.Client.Resource == i.Backend {
		return ""
	}
	return i.Backend
}

// Hint passes a resource_metadata URL from a backend's 401 challenge, which
// discovery tries first (RFC 9728 §5).
func (i *Interactive) Hint(resourceMetadata string) {
	if err := i.Policy.CheckBackend(resourceMetadata); err != nil {
		// Discovery then uses the backend's own well-known URL.
		i.log().Warn("ignoring the backend's resource_metadata URL", "err", err)
		return
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.hint == "" {
		i.hint = resourceMetadata
	}
}

// Resolved reports whether the issuer is known without a network call.
func (i *Interactive) Resolved() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.Issuer != "" || i.found != ""
}

func (i *Interactive) issuer(ctx context.Context) (string, error) {
	i.mu.Lock()
	iss, hint := i.Issuer, i.hint
	if iss == "" {
		iss = i.found
	}
	i.mu.Unlock()
	if iss != "" {
		return iss, i.checkIssuer(iss)
	}
	if iss = i.storedIssuer(ctx); iss == "" {
		rm, err := oauth.DiscoverResource(ctx, i.Client.HTTP, i.Backend, hint)
		if err != nil {
			return "", fmt.Errorf("finding the authorization server from the backend (set RELAY_AUTH_SERVER_URL to skip this): %w", err)
		}
		if iss, err = rm.AuthorizationServer(); err != nil {
			return "", err
		}
		i.keepSupported(rm)
		how := "well-known URL"
		if hint != "" {
			how = "resource metadata named by the backend's challenge"
		}
		i.log().Info("authorization server discovered from the backend", "issuer", iss, "via", how)
	}
	if err := i.checkIssuer(iss); err != nil {
		return "", err
	}
	i.mu.Lock()
	i.found = iss
	i.mu.Unlock()
	return iss, nil
}

// storedIssuer returns the issuer of a vault record for this backend and
// client, so that status and later runs need no discovery.
func (i *Interactive) storedIssuer(ctx context.Context) string {
	l, ok := i.Registry.(interface {
		Accounts(context.Context) ([]vault.Account, error)
	})
	if !ok {
		return ""
	}
	accts, err := l.Accounts(ctx)
	if err != nil {
		return ""
	}
	for _, a := range accts {
		bound := a.Resource != "" || a.Server != "" // a registration is neither: it is the issuer's
		if bound && a.Resource == i.Client.Resource && a.ClientID == i.AccountClientID() && a.Server == i.accountServer() {
			return a.Issuer
		}
	}
	return ""
}

// checkIssuer applies the policy to an issuer, configured or found.
func (i *Interactive) checkIssuer(iss string) error {
	if err := i.Policy.CheckIssuer(iss); err != nil {
		return err
	}
	return i.Policy.CheckAuthServer(iss)
}

// checkEndpoints applies the policy's authorization-server hosts to every
// endpoint the metadata names, before any is used.
func (i *Interactive) checkEndpoints(md *oauth.Metadata) error {
	for _, u := range []string{md.AuthorizationEndpoint, md.TokenEndpoint, md.RevocationEndpoint,
		md.RegistrationEndpoint, md.DeviceAuthorizationEndpoint} {
		if u == "" {
			continue
		}
		if err := i.Policy.CheckAuthServer(u); err != nil {
			return err
		}
	}
	return nil
}

// assumed lists the issuers of AssumePKCE.
func (i *Interactive) assumed() []string {
	out := make([]string, len(i.AssumePKCE))
	for n, a := range i.AssumePKCE {
		out[n] = a.Issuer
	}
	return out
}

// assumedBy says who named iss in AssumePKCE.
func (i *Interactive) assumedBy(iss string) string {
	for _, a := range i.AssumePKCE {
		if a.Issuer == iss {
			return a.By
		}
	}
	return ""
}

// explainPKCE adds to a refusal for an omitted
// code_challenge_methods_supported the way out, or why there is none: the
// policy decides and does not list iss (then it is the policy's refusal),
// or RELAY_ASSUME_PKCE_S256 names another issuer, or it is not set.
// iss is printable ASCII without spaces: the metadata's issuer equals it.
func (i *Interactive) explainPKCE(iss string, err error) error {
	if !errors.Is(err, oauth.ErrPKCEUnlisted) {
		return err
	}
	if _, perr := i.Policy.AssumePKCES256(iss, "RELAY_ASSUME_PKCE_S256"); perr != nil {
		return fmt.Errorf("%w; %w: assume_pkce_s256 does not list %s", err, policy.ErrDenied, iss)
	}
	if len(i.AssumePKCE) > 0 {
		var named []string
		for _, a := range i.AssumePKCE {
			named = append(named, a.Issuer+" ("+a.By+")")
		}
		return fmt.Errorf("%w; S256 is assumed only for %s, not for %s: issuers must match exactly", err, strings.Join(named, ", "), iss)
	}
	return fmt.Errorf("%w; if %s does PKCE with S256 anyway (Microsoft Entra ID does), set RELAY_ASSUME_PKCE_S256=%s", err, iss, iss)
}
