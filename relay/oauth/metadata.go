package oauth

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/keyrelay/keyrelay/internal/wellknown"
)

// Metadata is the part of an RFC 8414 authorization server metadata
// document (or an OpenID Connect discovery document) that the relay uses.
type Metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint,omitempty"`
	RegistrationEndpoint                       string   `json:"registration_endpoint,omitempty"`
	DeviceAuthorizationEndpoint                string   `json:"device_authorization_endpoint,omitempty"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported,omitempty"`
	ScopesSupported                            []string `json:"scopes_supported,omitempty"`
	GrantTypesSupported                        []string `json:"grant_types_supported,omitempty"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported,omitempty"`
	DPoPSigningAlgValuesSupported              []string `json:"dpop_signing_alg_values_supported,omitempty"`
	// ClientIDMetadataDocumentSupported: the server accepts an https URL
	// as client_id, naming a Client ID Metadata Document. The caller then
	// uses that URL as Client.ClientID and registers nothing.
	ClientIDMetadataDocumentSupported bool `json:"client_id_metadata_document_supported,omitempty"`
	// PKCEAssumed: the document omits code_challenge_methods_supported,
	// and the caller named this issuer in AssumeS256, so S256 is assumed.
	// Never read from the document.
	PKCEAssumed bool `json:"-"`
	// NoCodeFlow: the caller never runs the authorization code flow with
	// this server (the NoCodeFlow option of Discover), so it need not
	// advertise PKCE; StartLogin still refuses it then. Never read from
	// the document.
	NoCodeFlow bool `json:"-"`
}

// ErrPKCEUnlisted wraps ErrNoPKCE for a document that omits
// code_challenge_methods_supported altogether (Microsoft Entra ID does,
// although it does PKCE with S256). AssumeS256 can name its issuer.
var ErrPKCEUnlisted = fmt.Errorf("%w: the metadata does not list code_challenge_methods_supported", ErrNoPKCE)

// DiscoverOption changes what Discover accepts.
type DiscoverOption func(*discoverOptions)

type discoverOptions struct {
	assumeS256 []string
	noCodeFlow bool
}

// NoCodeFlow accepts metadata that does not advertise PKCE, for a server
// the caller only sends token requests to (an identity provider's token
// exchange, a jwt-bearer or client_credentials grant). StartLogin still
// refuses such metadata (ErrNoPKCE).
func NoCodeFlow() DiscoverOption {
	return func(o *discoverOptions) { o.noCodeFlow = true }
}

// AssumeS256 names issuers whose metadata may omit
// code_challenge_methods_supported: S256 is then assumed (PKCEAssumed).
//
// WARNING: if such a server does not in fact check PKCE, a stolen
// authorization code is exchanged without the verifier. Name only an
// issuer known to do S256 (Microsoft Entra ID).
//
// RFC 8414 §2 reads an omitted list as no PKCE support, and the MCP
// authorization specification (2025-11-25, Authorization Code Protection)
// says a client MUST refuse to proceed then, for RFC 8414 and OpenID
// Connect metadata alike; Discover does by default. This is an explicit,
// narrow exception for an issuer someone knows does S256 (SECURITY.md,
// "Assuming PKCE for a named issuer"):
//   - an issuer matches only byte for byte, as the document's issuer is
//     compared (a trailing slash, case or another tenant path differs);
//   - only an omitted (or null) list is assumed: a list without S256, even
//     an empty one, is still refused;
//   - S256 is still always sent (StartLogin), so a server that does PKCE
//     checks the verifier as usual.
func AssumeS256(issuers ...string) DiscoverOption {
	return func(o *discoverOptions) { o.assumeS256 = append(o.assumeS256, issuers...) }
}

// Discover fetches the metadata of issuer. It tries the well-known URLs in
// the order of the MCP authorization specification: for an issuer with a
// path, RFC 8414 with the path inserted, OpenID Connect with the path
// inserted, then OpenID Connect with the path appended; for an issuer
// without one, RFC 8414 then OpenID Connect at the root. A 4xx answer moves
// on to the next URL; any other failure stops discovery.
//
// The document's issuer must equal issuer byte for byte (ErrIssuerMismatch,
// so a trailing slash matters), and the server must advertise S256
// (ErrNoPKCE; ErrPKCEUnlisted when the list is omitted, unless
// AssumeS256 names issuer). issuer and every endpoint must be https unless on a loopback
// host (ErrInsecureURL). A fetch that redirects to another host is refused
// (ErrRedirect), and so is a document over 1 MiB (ErrTooLarge). hc may be
// nil; a redirect policy is added to a copy of it.
func Discover(ctx context.Context, hc *http.Client, issuer string, opts ...DiscoverOption) (*Metadata, error) {
	var o discoverOptions
	for _, f := range opts {
		f(&o)
	}
	urls, err := metadataURLs(issuer)
	if err != nil {
		return nil, err
	}
	if hc == nil {
		hc = defaultHTTPClient()
	}
	var last error
	for _, u := range urls {
		var md Metadata
		err := getJSON(ctx, hc, u, &md)
		if isClientError(err) {
			last = err
			continue
		}
		if err != nil {
			return nil, err
		}
		md.PKCEAssumed = md.CodeChallengeMethodsSupported == nil && slices.Contains(o.assumeS256, issuer)
		md.NoCodeFlow = o.noCodeFlow
		if err := md.check(issuer, u); err != nil {
			return nil, err
		}
		return &md, nil
	}
	return nil, fmt.Errorf("%w for %s: %w", ErrNoMetadata, issuer, last)
}

// metadataURLs lists the well-known URLs for issuer, in order.
func metadataURLs(issuer string) ([]string, error) {
	u, err := secureURL(issuer)
	if err != nil {
		return nil, err
	}
	if u.RawQuery != "" || u.ForceQuery {
		return nil, fmt.Errorf("%w: issuer %q has a query", ErrConfig, sanitize(issuer, 256))
	}
	return wellknown.AuthServerURLs(u), nil
}

// check validates a fetched document: the exact issuer (C2), then the
// rest (C1, C3).
func (md *Metadata) check(issuer, from string) error {
	if md.Issuer != issuer {
		return fmt.Errorf("%w: %s names %q, want %q", ErrIssuerMismatch, from, sanitize(md.Issuer, 256), issuer)
	}
	return md.validate()
}

// validate checks a document however it was obtained: an issuer and a
// token endpoint are present, every endpoint is secure and printable ASCII
// (a URL shown to the person cannot hide its host behind a right-to-left
// override or a control character: P4), and PKCE S256 is advertised, or
// assumed for an omitted list (PKCEAssumed, AssumeS256).
func (md *Metadata) validate() error {
	if md.Issuer == "" || md.TokenEndpoint == "" {
		return fmt.Errorf("%w: issuer and token_endpoint are required", ErrBadMetadata)
	}
	for _, e := range []string{md.Issuer, md.AuthorizationEndpoint, md.TokenEndpoint, md.RevocationEndpoint, md.RegistrationEndpoint, md.DeviceAuthorizationEndpoint} {
		if e == "" {
			continue
		}
		if printableASCII(e) != e || strings.Contains(e, " ") {
			return fmt.Errorf("%w: an endpoint is not printable ASCII: %q", ErrBadMetadata, sanitize(e, 256))
		}
		if _, err := secureURL(e); err != nil {
			return err
		}
	}
	if md.NoCodeFlow {
		return nil
	}
	return md.checkPKCE()
}

// checkPKCE: S256 is advertised, or assumed for an omitted list (C1).
func (md *Metadata) checkPKCE() error {
	switch {
	case slices.Contains(md.CodeChallengeMethodsSupported, "S256"):
	case md.CodeChallengeMethodsSupported == nil && md.PKCEAssumed:
	case md.CodeChallengeMethodsSupported == nil:
		return ErrPKCEUnlisted
	default:
		return ErrNoPKCE
	}
	return nil
}
