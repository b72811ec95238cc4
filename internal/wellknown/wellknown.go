// Package wellknown builds the well-known metadata URLs of an OAuth
// authorization server, in the order the MCP authorization specification
// gives. The relay (to log in) and the backend (to find the JWKS) both use
// it, so they look in the same places.
package wellknown

import (
	"net/url"
	"strings"
)

// AuthServerURLs returns, for an issuer URL already checked by the caller,
// RFC 8414 with the path inserted, OIDC discovery with the path inserted,
// and OIDC discovery with the path appended. For an issuer without a path
// it returns the RFC 8414 and OIDC root URLs.
func AuthServerURLs(issuer *url.URL) []string {
	origin := issuer.Scheme + "://" + issuer.Host
	path := strings.TrimSuffix(issuer.EscapedPath(), "/")
	if path == "" {
		return []string{
			origin + "/.well-known/oauth-authorization-server",
			origin + "/.well-known/openid-configuration",
		}
	}
	return []string{
		origin + "/.well-known/oauth-authorization-server" + path,
		origin + "/.well-known/openid-configuration" + path,
		origin + path + "/.well-known/openid-configuration",
	}
}
