// Package authserver is a small OAuth 2.1 authorization server for trying
// keyrelay end to end: authorization code with PKCE (S256 only), refresh
// tokens, the device grant (RFC 8628), revocation (RFC 7009), dynamic client
// registration for native public clients (RFC 7591) and RFC 8414 metadata.
// It issues RFC 9068 style JWT access tokens, ES256 (keys at jwks_uri) or
// HS256 with a shared secret.
//
// WARNING: this is a development server for a single instance. All state
// (pending logins, codes, refresh tokens, registered clients) is held in
// memory and lost on restart. In production, point the relay and the
// backend at a real identity provider.
//
// Security properties:
//   - /authorize checks client_id and redirect_uri before any redirect; a bad
//     pair gets an error page, never a redirect (no open redirector).
//     Loopback redirect URIs match on scheme, host and path with any port
//     (RFC 8252 §7.3); all other redirect URIs match exactly.
//   - A client that registered itself gets by default only the scopes
//     pre-registered clients get by default (Config.RegisteredDefaultScopes);
//     any other, admin in the example, only when a request names it.
//   - PKCE S256 is required; plain is refused. The resource (RFC 8707) is
//     checked against an allow-list and becomes the token's single aud.
//   - The pending request is kept server side under a random id and bound to
//     the browser by an HttpOnly cookie; the login and consent forms carry a
//     CSRF token compared in constant time. Login failures are limited per
//     source address (5 a minute) and by a slower per-user brake that
//     holds back only the addresses that failed for that user, so nobody
//     can lock another person out; they do not reveal whether a user
//     exists (unknown users are checked against a dummy bcrypt hash).
//   - Pages send X-Frame-Options: DENY, a CSP with frame-ancestors 'none',
//     Cache-Control: no-store and Referrer-Policy: no-referrer. Every POST
//     is answered with 303.
//   - Codes are single-use, live 60 s and are bound to the client,
//     redirect_uri, PKCE challenge and resource. A replayed code revokes the
//     refresh token family issued from it. Refresh tokens rotate on every use
//     and reuse of a rotated token revokes the whole family (RFC 9700
//     §4.14.2).
//   - Codes, refresh tokens and device codes are stored only as SHA-256
//     hashes, held in secret.Value while in flight, and never logged or
//     echoed in errors. Logs carry sub, client_id and jti.
//
// Non-goals: confidential clients and client authentication, OpenID Connect
// (no ID tokens, the openid-configuration path is only an alias of the
// RFC 8414 document), revocation of access tokens (they are stateless JWTs;
// keep their lifetime short), persistence, clustering, and account
// management.
package authserver
