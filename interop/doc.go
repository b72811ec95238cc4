// Package interop holds keyrelay's interoperability tests against
// authorization servers someone else wrote: the example OpenID provider of
// github.com/zitadel/oidc/v3, run in-process on loopback; Ory Hydra
// (hydra_*_test.go), a real Hydra binary that scripts/build-hydra.sh builds
// from the Go module proxy (or $KEYRELAY_HYDRA), run in memory on loopback;
// and, for DPoP (RFC 9449), panva's oidc-provider on Node (oidcprovider/,
// installed by scripts/install-oidc-provider.sh; dpop_oidcprovider_test.go).
//
// It is a nested module so that the OIDC library and its dependencies stay
// out of the product's go.mod. The tests build the real relay and backend
// binaries from the repository root and drive them as a user would; nothing
// in the relay or the backend knows which server it talks to.
package interop
