package authserver

import (
	"encoding/json"
	"net/http"
	"slices"
)

// DeviceCodeGrantType is the RFC 8628 grant type.
const DeviceCodeGrantType = "urn:ietf:params:oauth:grant-type:device_code"

// Metadata is the RFC 8414 authorization server metadata document.
type Metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	RegistrationEndpoint                       string   `json:"registration_endpoint"`
	DeviceAuthorizationEndpoint                string   `json:"device_authorization_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint,omitempty"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported,omitempty"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	DPoPSigningAlgValuesSupported              []string `json:"dpop_signing_alg_values_supported,omitempty"`
}

// Metadata returns the RFC 8414 document served at
// /.well-known/oauth-authorization-server.
func (s *Server) Metadata() Metadata {
	iss := s.cfg.Issuer
	md := Metadata{
		Issuer:                                     iss,
		AuthorizationEndpoint:                      iss + "/authorize",
		TokenEndpoint:                              iss + "/token",
		RevocationEndpoint:                         iss + "/revoke",
		RegistrationEndpoint:                       iss + "/register",
		DeviceAuthorizationEndpoint:                iss + "/device_authorization",
		JWKSURI:                                    iss + "/jwks.json",
		ScopesSupported:                            append([]string{}, s.cfg.Scopes...),
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query"},
		GrantTypesSupported:                        []string{"authorization_code", "refresh_token", DeviceCodeGrantType},
		CodeChallengeMethodsSupported:              []string{"S256"},
		TokenEndpointAuthMethodsSupported:          []string{"none"},
		RevocationEndpointAuthMethodsSupported:     []string{"none"},
		AuthorizationResponseIssParameterSupported: true,
		DPoPSigningAlgValuesSupported:              s.dpopAlgs(),
	}
	if len(s.cfg.MachineClients) > 0 {
		md.GrantTypesSupported = append(md.GrantTypesSupported, ClientCredentialsGrantType)
		md.TokenEndpointAuthMethodsSupported = append(md.TokenEndpointAuthMethodsSupported, "client_secret_basic", "client_secret_post", "private_key_jwt")
		md.TokenEndpointAuthSigningAlgValuesSupported = []string{"ES256", "RS256", "EdDSA"}
	}
	if len(s.cfg.TrustedIdPs) > 0 {
		md.GrantTypesSupported = append(md.GrantTypesSupported, JWTBearerGrantType)
	}
	if slices.ContainsFunc(s.cfg.MachineClients, func(mc MachineClient) bool { return mc.Introspect }) {
		md.IntrospectionEndpoint = iss + "/introspect"
		md.IntrospectionEndpointAuthMethodsSupported = []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}
	}
	return md
}

func (s *Server) handleMetadata(w http.ResponseWriter, _ *http.Request) {
	b, err := json.Marshal(s.Metadata())
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writePublicJSON(w, b)
}

func (s *Server) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	writePublicJSON(w, s.JWKS())
}

// writePublicJSON serves a public document that any origin may read.
func writePublicJSON(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(b)
}
