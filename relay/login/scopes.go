package login

import (
	"context"
	"slices"

	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/oauth"
)

var _ broker.Scoper = (*Interactive)(nil)

// DefaultScopes are the scopes a sign-in asks for when neither
// RELAY_SCOPES nor a challenge names any: with ResourceScopes, the
// protected resource metadata's scopes_supported (the MCP authorization
// specification's scope selection strategy), nil when it lists none. The
// metadata read when the issuer was discovered serves; when the issuer
// came from the configuration or the vault, it is read once now, and a
// failure to read it means none.
func (i *Interactive) DefaultScopes(ctx context.Context) []string {
	if !i.ResourceScopes {
		return nil
	}
	i.mu.Lock()
	read, hint := i.supportedRead, i.hint
	i.mu.Unlock()
	if !read {
		rm, err := oauth.DiscoverResource(ctx, i.Client.HTTP, i.Backend, hint)
		if err != nil {
			i.log().Debug("no scopes_supported from the protected resource metadata", "err", err)
		}
		i.keepSupported(rm)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return slices.Clone(i.supported)
}

// keepSupported keeps the scopes_supported of rm (nil: none was found),
// the scope-tokens among them only.
func (i *Interactive) keepSupported(rm *oauth.ResourceMetadata) {
	var sc []string
	if rm != nil {
		sc = oauth.ScopeTokens(rm.ScopesSupported)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.supportedRead {
		i.supported, i.supportedRead = sc, true
	}
}

// Offline reports whether the authorization server lists offline_access
// in its scopes_supported (SEP-2207: a client that wants refresh tokens
// may then ask for it).
func (i *Interactive) Offline(ctx context.Context) bool {
	md, err := i.Metadata(ctx)
	return err == nil && slices.Contains(md.ScopesSupported, broker.OfflineAccess)
}
