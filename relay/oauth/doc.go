// Package oauth is the relay's OAuth 2.1 client for a native, public client:
// protected resource discovery (RFC 9728), authorization server discovery
// (RFC 8414, with OpenID Connect discovery as a fallback), dynamic client
// registration (RFC 7591), the authorization code flow with PKCE through the
// browser and a loopback redirect (RFC 8252), the device authorization grant
// (RFC 8628), the refresh grant, and revocation (RFC 7009); for a
// confidential client, the client_credentials grant (SEP-1046) and cross-app
// access (SEP-990: an RFC 8693 token exchange of an ID token for an ID-JAG
// at the identity provider, then the RFC 7523 jwt-bearer grant). Every token
// request goes through one path (postForm): client authentication, no
// redirects, a 1 MiB cap, the secrets sent scrubbed from the answer.
//
// A typical login:
//
//	md, err := oauth.Discover(ctx, hc, issuer)
//	c := &oauth.Client{ClientID: "relay", Scopes: scopes, Resource: backend, Metadata: md}
//	l, err := c.StartLogin(ctx, oauth.Callback{}) // binds 127.0.0.1:0 first
//	defer l.Close()
//	openBrowser(l.URL())           // and print it, so a person can open it
//	tok, err := l.Wait(ctx)        // ctx carries the login timeout
//
// Without RELAY_AUTH_SERVER_URL, the server comes from the backend:
//
//	rm, err := oauth.DiscoverResource(ctx, hc, backend, challenge.ResourceMetadata)
//	issuer, err := rm.AuthorizationServer()
//
// Without a browser, the device grant replaces StartLogin:
//
//	d, err := c.StartDevice(ctx)
//	show(d.VerificationURI, d.UserCode) // not secrets
//	tok, err := d.Wait(ctx)
//
// Security properties:
//   - Protected resource discovery fetches the challenge's resource_metadata
//     URL alone when there is one, else the well-known URL with the path
//     inserted, then at the root, with the same URL, redirect and size rules
//     as below. The document must name the identifier its URL was built
//     from (RFC 9728 §3.3): the backend exactly, or, at the root URL, the
//     backend's origin (an origin with and without "/" being the only
//     allowance), else ErrResourceMismatch.
//   - Discovery accepts only https URLs, or http on a loopback host; refuses
//     redirects to another host, documents over 1 MiB, an answer whose
//     Content-Type is not JSON (unread; text/plain and none are tolerated),
//     a fetch over 10 s, an issuer that is not byte for byte the one asked
//     for (RFC 8414 §3.3), and a server that does not advertise PKCE with
//     S256 (unless AssumeS256 names its exact issuer and its metadata omits
//     the list altogether). One exception, DiscoverLegacy, for an MCP server
//     of the 2025-03-26 revision that publishes no protected resource
//     metadata: the metadata at its origin's root may name another issuer if
//     that issuer and every endpoint are on the same origin.
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
//   - A Callback may name the host "localhost" instead (for a client
//     registered ahead of time with such a redirect URI; RFC 8252 §8.3
//     discourages it) and another path. The listeners still bind IP
//     literals only: 127.0.0.1, plus [::1] on the same port when this
//     machine has IPv6 loopback; the Host header may then be localhost:PORT
//     or the literal the connection arrived on. The path is limited to
//     plain RFC 3986 path characters (no percent-encoding, no dot segments)
//     and is matched byte for byte; every other path is 404.
//   - The pages shown in the browser are static: they reflect no query
//     value, are never cached, send no Referer and carry a strict CSP.
//   - Token responses are capped at 1 MiB and must hold an access_token of
//     type Bearer. Token and revocation requests never follow redirects and
//     carry no Authorization header (client_id goes in the body).
//   - Registration asks for a native public client (token_endpoint_auth_method
//     none); any client secret or registration access token is a
//     secret.Value. An invalid_client answer anywhere wraps ErrInvalidClient,
//     so the caller can register again once.
//   - The device grant polls no faster than the server asks (+5 s on
//     slow_down, doubled after a timeout) and stops at the code's expiry.
//     The user code and verification URIs must be printable ASCII and the
//     URIs https (or loopback), so they are safe to print to a terminal.
//   - Tokens, codes, device codes, verifiers and the state are secret.Value
//     from the moment they exist. Error descriptions from the server are
//     sanitised (printable ASCII, length-capped, with any secret we sent
//     removed), response bodies are never logged, and the logger receives
//     identifiers only.
//
// Non-goals: storing tokens (the vault does), deciding when to refresh or
// log in again (the relay's orchestrator does), opening the browser
// (platform does), verifying ID tokens (the identity provider that gets
// one back in a token exchange does; PeekClaims only reads them), the
// implicit or password grants, RFC 7592 client management, and storing a
// registration (the vault does, keyed by issuer). For a Client ID Metadata
// Document the caller sets ClientID to the document's URL when
// Metadata.ClientIDMetadataDocumentSupported; nothing else is needed here.
package oauth
