package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyrelay/keyrelay/internal/wellknown"
)

// Origin returns the scheme and host of a secure URL (https, or http on a
// loopback host), without a path: the authorization base URL of the MCP
// specification's 2025-03-26 revision.
func Origin(raw string) (string, error) {
	u, err := secureURL(raw)
	if err != nil {
		return "", err
	}
	return u.Scheme + "://" + u.Host, nil
}

// DiscoverLegacy finds the authorization server of an MCP server that
// publishes no protected resource metadata, as the MCP specification's
// 2025-03-26 revision says ("Authorization Server Discovery" and
// "Fallbacks for Servers without Metadata Discovery"): the authorization
// base URL is the server URL's origin; its metadata is at the origin's
// root (RFC 8414, then OpenID Connect, as Discover tries an issuer without
// a path); when every such URL answers 404, the default endpoints
// /authorize, /token and /register at the origin are used. The caller
// must take this path only when the server published no protected
// resource metadata (every URL answered 404, DiscoverResource's
// ErrNotFound), never when fetching it failed otherwise.
//
// A document whose issuer is the origin, byte for byte, is checked as
// Discover checks it. A document that names another issuer is accepted
// only under a narrow exception: this revision finds the metadata from
// the server's origin and says nothing of the issuer, and servers of its
// time put their authorization server under a path of the same origin
// (the conformance suite's names https://host/oauth). RFC 8414 §3.3, and
// the security checklist's C2, would refuse the document; here it is
// accepted when the issuer and every endpoint it names are on the
// server's own origin, the origin that served the document and will
// receive the token anyway. An issuer or an endpoint on another origin is
// ErrIssuerMismatch. The metadata's Issuer is then the one advertised,
// which the callback's iss (RFC 9207) must match.
//
// The default endpoints advertise no PKCE methods (there is no document
// for C1 to check): the metadata returned for them lists S256, which the
// relay always sends. The revision requires OAuth 2.1, and so PKCE, of
// every authorization server.
func DiscoverLegacy(ctx context.Context, hc *http.Client, server string) (*Metadata, error) {
	origin, err := Origin(server)
	if err != nil {
		return nil, err
	}
	if hc == nil {
		hc = defaultHTTPClient()
	}
	ou, _ := url.Parse(origin)
	var last error
	for _, u := range wellknown.AuthServerURLs(ou) {
		var md Metadata
		err := getJSON(ctx, hc, u, &md)
		if isClientError(err) {
			if !errors.Is(err, ErrNotFound) && last == nil {
				last = err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if md.Issuer == origin {
			if err := md.check(origin, u); err != nil {
				return nil, err
			}
			return &md, nil
		}
		if err := md.validate(); err != nil {
			return nil, err
		}
		if err := md.checkSameOrigin(origin, u); err != nil {
			return nil, err
		}
		return &md, nil
	}
	if last != nil {
		return nil, fmt.Errorf("%w for %s: %w", ErrNoMetadata, origin, last)
	}
	return &Metadata{
		Issuer:                        origin,
		AuthorizationEndpoint:         origin + "/authorize",
		TokenEndpoint:                 origin + "/token",
		RegistrationEndpoint:          origin + "/register",
		CodeChallengeMethodsSupported: []string{"S256"},
	}, nil
}

// checkSameOrigin refuses a document, fetched from from, whose issuer or
// any endpoint is not on origin.
func (md *Metadata) checkSameOrigin(origin, from string) error {
	for _, e := range []string{md.Issuer, md.AuthorizationEndpoint, md.TokenEndpoint, md.RevocationEndpoint, md.RegistrationEndpoint, md.DeviceAuthorizationEndpoint} {
		if e == "" {
			continue
		}
		if o, err := Origin(e); err != nil || !strings.EqualFold(o, origin) {
			return fmt.Errorf("%w: %s names %q, not on the MCP server's origin %s", ErrIssuerMismatch, sanitize(from, 256), sanitize(e, 256), origin)
		}
	}
	return nil
}
