// Package bearer validates OAuth 2.0 bearer tokens that are JWT access
// tokens (RFC 9068) and writes RFC 6750 challenges.
//
// A Validator works in exactly one of two modes, never mixed:
//
//   - HMAC mode: HS256 with a shared secret of at least 32 bytes. A shorter
//     or empty secret is refused, because golang-jwt verifies HS256 tokens
//     with an empty key.
//   - Key-set mode: RS256, ES256 or EdDSA with public keys from the issuer's
//     JWKS. Symmetric keys and keys marked use=enc are never used, whatever
//     the JWKS says. Keys never come from token headers (jku, x5u, jwk, x5c
//     are ignored).
//
// Every token is checked, in this order: size (at most 8 KiB, before any
// decoding), structure, the header (duplicate members, typ, crit), the
// payload (duplicate members, ID-token claims, numeric dates, claim names
// that differ from a registered one only in case), alg against the mode's
// allow-list, the signature, iss (exact string compare), aud (contains the
// configured resource), exp (required), nbf and iat (small leeway), a
// maximum lifetime, and sub (required and not empty: RFC 9068 §2.2). Each
// segment is base64-decoded and read as JSON once.
//
// A token that passed every check is remembered (Config.CacheSize, by its
// SHA-256) for at most a minute, so that the same token presented again
// skips the signature check; its claims (exp, nbf, iat, iss, aud, lifetime,
// sub) are checked again every time. A key removed from the JWKS therefore
// stops verifying cached tokens within a minute (the key set itself is
// refreshed hourly, or at once for an unknown kid). Forged or failing tokens
// are never cached. CacheSize -1 turns the cache off.
//
// The token is read only from the Authorization header. Query parameters and
// bodies are never looked at. A validated token is never forwarded: the
// caller gets a Token holding claims, not the raw string.
//
// Non-goals: token revocation (bearer tokens are valid until they expire;
// keep lifetimes short), introspection of opaque tokens, DPoP.
package bearer
