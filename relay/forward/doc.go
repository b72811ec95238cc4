// Package forward is the relay's client for the backend tool API:
// GET /mcp/tools and POST /mcp/tools/{name}, with a Bearer token.
//
// Security properties: the token is sent only in the Authorization header
// of requests to the configured backend, never on a redirect to another
// host; response bodies are capped; a 401 or 403 is returned as an
// *AuthError carrying the parsed RFC 6750 challenge, and every other
// failure (connection refused, timeout, 5xx, garbage) as a *BackendError
// whose text is safe to show the user. No error contains the token or a
// raw response body.
//
// Non-goals: retries and token refresh (the caller's orchestrator decides),
// the full MCP protocol.
package forward
