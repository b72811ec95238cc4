package login

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

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
	return vault.Account{Issuer: iss, ClientID: i.AccountClientID(), Resource: i.resource(), Server: i.accountServer()}, nil
}

// discovery is what finding the issuer learnt beyond it. Interactive.mu
// guards it.
type discovery struct {
	// resource is the resource the backend's protected resource metadata
	// names when it replaces the default one (see resource).
	resource string
	// legacy: the backend publishes no protected resource metadata, and
	// the issuer is its origin (the MCP specification's 2025-03-26
	// revision; see oauth.DiscoverLegacy).
	legacy bool
	// err is the last discovery that failed, at errAt, with the
	// resource_metadata hint errHint: it is not tried again before
	// failedDiscoveryMemory has passed or a new hint arrives.
	err     error
	errAt   time.Time
	errHint string
}

// failedDiscoveryMemory is how long a failed discovery is remembered:
// every request of a burst (initialize, the event stream, tools/list)
// asks for the account, and a server whose discovery fails must not get
// one lookup per request, nor hold each for the lookup's timeout.
const failedDiscoveryMemory = 15 * time.Second

// resource is the RFC 8707 resource the relay sends and its account
// names: the configured one (RELAY_RESOURCE, or none for "off"), unless
// it is the default, the server's URL, and the server's protected
// resource metadata named another one that discovery accepted: its origin,
// from the root well-known URL (RFC 9728 §3.3). The metadata says what the
// resource is; the default only guessed it.
func (i *Interactive) resource() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.disc.resource != "" {
		return i.disc.resource
	}
	return i.Client.Resource
}

// accountServer is the Server of this relay's account: empty when the
// resource is the server's own URL (the default: the account is already
// the server's), else the server's URL, so that two servers with no
// resource (RELAY_RESOURCE=off), or the same one, never share tokens.
func (i *Interactive) accountServer() string {
	if r := i.resource(); r != "" && r == i.Backend {
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
// The 2025-03-26 fallback counts only once a sign-in or a refresh has
// needed its metadata: a server without protected resource metadata may
// need no sign-in at all, so until then its requests go without a token
// first, and a sign-in waits for its 401.
func (i *Interactive) Resolved() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.Issuer != "" || (i.found != "" && (!i.disc.legacy || i.md != nil))
}

func (i *Interactive) issuer(ctx context.Context) (string, error) {
	i.mu.Lock()
	iss, hint, d := i.Issuer, i.hint, i.disc
	// A challenge naming protected resource metadata overrules the
	// 2025-03-26 fallback, taken when the well-known URLs had none.
	superseded := iss == "" && d.legacy && hint != ""
	if iss == "" && !superseded {
		iss = i.found
	}
	i.mu.Unlock()
	if iss != "" {
		return iss, i.checkIssuer(iss)
	}
	if d.err != nil && d.errHint == hint && i.now().Sub(d.errAt) < failedDiscoveryMemory {
		return "", d.err
	}
	found := discovery{}
	if !superseded {
		iss, found.resource = i.storedIssuer(ctx)
	}
	var err error
	if iss == "" {
		iss, found, err = i.discoverIssuer(ctx, hint)
	}
	if err == nil {
		err = i.checkIssuer(iss)
	}
	if err != nil {
		if ctx.Err() == nil { // the caller's end is no failure of the server's
			i.mu.Lock()
			i.disc.err, i.disc.errAt, i.disc.errHint = err, i.now(), hint
			i.mu.Unlock()
		}
		return "", err
	}
	i.mu.Lock()
	if i.found != iss {
		i.md = nil // the fallback's metadata, if a challenge superseded it
	}
	i.found, i.disc = iss, found
	i.mu.Unlock()
	return iss, nil
}

// discoverIssuer finds the authorization server from the backend's
// protected resource metadata (RFC 9728), or, when the backend publishes
// none, from its origin (MCP 2025-03-26).
func (i *Interactive) discoverIssuer(ctx context.Context, hint string) (string, discovery, error) {
	rm, err := oauth.DiscoverResource(ctx, i.Client.HTTP, i.Backend, hint)
	if err != nil {
		if origin := i.legacyOrigin(hint, err); origin != "" {
			// Many such servers need no sign-in at all: say it quietly.
			i.log().Debug("the server publishes no protected resource metadata; if it asks for a sign-in, its origin is the authorization server (MCP 2025-03-26)", "issuer", origin)
			return origin, discovery{legacy: true}, nil
		}
		return "", discovery{}, fmt.Errorf("finding the authorization server from the backend (set RELAY_AUTH_SERVER_URL to skip this): %w", err)
	}
	iss, err := rm.AuthorizationServer()
	if err != nil {
		return "", discovery{}, err
	}
	i.keepSupported(rm)
	how := "well-known URL"
	if hint != "" {
		how = "resource metadata named by the backend's challenge"
	}
	var d discovery
	if i.Client.Resource == i.Backend && strings.TrimSuffix(rm.Resource, "/") != strings.TrimSuffix(i.Backend, "/") {
		d.resource = rm.Resource
		i.log().Info("the server's protected resource metadata names its resource; using it", "resource", rm.Resource)
	}
	i.log().Info("authorization server discovered from the backend", "issuer", iss, "via", how)
	return iss, d, nil
}

// legacyOrigin returns the backend's origin when err says that the backend
// publishes no protected resource metadata (every well-known URL answered
// 404, and no challenge named one), the only case where the 2025-03-26
// fallback applies; else "". Any other failure (a 5xx, a timeout, an
// answer that is not JSON, a document for another resource) stops.
func (i *Interactive) legacyOrigin(hint string, err error) string {
	if hint != "" || !errors.Is(err, oauth.ErrNoResourceMetadata) || !errors.Is(err, oauth.ErrNotFound) {
		return ""
	}
	origin, oerr := oauth.Origin(i.Backend)
	if oerr != nil {
		return ""
	}
	return origin
}

// discover fetches the metadata of iss: as RFC 8414 says, or by the
// 2025-03-26 fallback when the backend publishes no protected resource
// metadata (see oauth.DiscoverLegacy).
func (i *Interactive) discover(ctx context.Context, iss string) (*oauth.Metadata, error) {
	i.mu.Lock()
	legacy := i.disc.legacy
	i.mu.Unlock()
	if !legacy {
		opts := []oauth.DiscoverOption{oauth.AssumeS256(i.assumed()...)}
		if i.CrossApp != nil { // token requests only: no PKCE needed
			opts = append(opts, oauth.NoCodeFlow())
		}
		md, err := oauth.Discover(ctx, i.Client.HTTP, iss, opts...)
		if err == nil || !i.legacyRecord(ctx, iss, err) {
			return md, err
		}
	}
	md, err := oauth.DiscoverLegacy(ctx, i.Client.HTTP, i.Backend)
	if err != nil {
		return nil, fmt.Errorf("finding the authorization server at the MCP server's origin (no protected resource metadata; set RELAY_AUTH_SERVER_URL to skip this): %w", err)
	}
	if md.Issuer != iss {
		// The narrow exception of DiscoverLegacy: the policy must allow
		// the issuer advertised too, not only the origin.
		if err := i.checkIssuer(md.Issuer); err != nil {
			return nil, err
		}
	}
	i.log().Info("the server publishes no protected resource metadata; signing in at its origin, as MCP 2025-03-26 servers want", "issuer", md.Issuer, "token_endpoint", md.TokenEndpoint)
	return md, nil
}

// legacyRecord reports whether iss, whose metadata Discover could not
// find or accept (err), is the origin an earlier run's 2025-03-26
// fallback stored: not configured, the backend's origin, and the backend
// still publishes no protected resource metadata (asked again now).
func (i *Interactive) legacyRecord(ctx context.Context, iss string, err error) bool {
	if i.Issuer != "" || !(errors.Is(err, oauth.ErrIssuerMismatch) || errors.Is(err, oauth.ErrNoMetadata)) {
		return false
	}
	i.mu.Lock()
	hint := i.hint
	i.mu.Unlock()
	if origin, oerr := oauth.Origin(i.Backend); oerr != nil || origin != iss {
		return false
	}
	_, perr := oauth.DiscoverResource(ctx, i.Client.HTTP, i.Backend, hint)
	if i.legacyOrigin(hint, perr) == "" {
		return false
	}
	i.mu.Lock()
	i.disc.legacy = true
	i.mu.Unlock()
	return true
}

// storedIssuer returns the issuer of a vault record for this backend and
// client, so that status and later runs need no discovery, and the
// resource the record names when discovery had replaced the default one
// with the server's origin (see resource).
func (i *Interactive) storedIssuer(ctx context.Context) (issuer, resource string) {
	l, ok := i.Registry.(interface {
		Accounts(context.Context) ([]vault.Account, error)
	})
	if !ok {
		return "", ""
	}
	accts, err := l.Accounts(ctx)
	if err != nil {
		return "", ""
	}
	origin, _ := oauth.Origin(i.Backend)
	var byOrigin vault.Account
	for _, a := range accts {
		bound := a.Resource != "" || a.Server != "" // a registration is neither: it is the issuer's
		if !bound || a.ClientID != i.AccountClientID() {
			continue
		}
		if a.Resource == i.Client.Resource && a.Server == i.accountServer() {
			return a.Issuer, ""
		}
		if i.Client.Resource == i.Backend && origin != "" && a.Resource == origin && a.Server == i.Backend && byOrigin.Issuer == "" {
			byOrigin = a
		}
	}
	if byOrigin.Issuer != "" {
		return byOrigin.Issuer, byOrigin.Resource
	}
	return "", ""
}

func (i *Interactive) now() time.Time {
	if i.Client.Now != nil {
		return i.Client.Now()
	}
	return time.Now()
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
