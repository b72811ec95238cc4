// Package oauth is the relay's OAuth 2.1 client for a native, public client:
// authorization server discovery (RFC 8414, with OpenID Connect discovery as
// a fallback), the authorization code flow with PKCE through the browser and
// a loopback redirect (RFC 8252), the refresh grant, and revocation
// (RFC 7009).
//
// A typical login:
//
//	md, err := oauth.Discover(ctx, hc, issuer)
//	c := &oauth.Client{ClientID: "relay", Scopes: scopes, Resource: backend, Metadata: md}
//	l, err := c.StartLogin(ctx, 0) // binds 127.0.0.1:0 first
//	defer l.Close()
//	openBrowser(l.URL())           // and print it, so a person can open it
//	tok, err := l.Wait(ctx)        // ctx carries the login timeout
//
// Security properties:
//   - Discovery accepts only https URLs, or http on a loopback host; refuses
//     redirects to another host, documents over 1 MiB, an issuer that is not
//     byte for byte the one asked for (RFC 8414 §3.3), and a server that does
//     not advertise PKCE with S256.
//   - Each login uses a fresh 32-byte PKCE verifier (S256 only) and a fresh
//     32-byte state. The RFC 8707 resource is sent on the authorization
//     request, the code exchange and every refresh.
//   - The callback listener binds 127.0.0.1 only, before the authorization
//     URL exists, and the redirect URI uses the IP literal. It checks the
//     Host header (DNS rebinding), serves GET /callback only, limits header
//     size and time, and is single-shot: the first response carrying the
//     right state ends the login and the listener closes. A request with a
//     wrong or missing state is refused with 400 and does not end the wait.
//     The iss parameter (RFC 9207) is checked when present and required when
//     the server advertises it.
//   - The pages shown in the browser are static: they reflect no query
//     value, are never cached, send no Referer and carry a strict CSP.
//   - Token responses are capped at 1 MiB and must hold an access_token of
//     type Bearer. Token and revocation requests never follow redirects and
//     carry no Authorization header (client_id goes in the body).
//   - Tokens, codes, verifiers and the state are secret.Value from the moment
//     they exist. Error descriptions from the server are sanitised (printable
//     ASCII, length-capped, with any secret we sent removed), response
//     bodies are never logged, and the logger receives identifiers only.
//
// Non-goals: storing tokens (the vault does), deciding when to refresh or
// log in again (the relay's orchestrator does), opening the browser
// (platform does), confidential clients, OpenID Connect ID tokens, and the
// implicit or password grants. Discovery from a protected resource
// (RFC 9728), dynamic client registration and the device grant are left to
// later work; Metadata already carries their endpoints.
package oauth
