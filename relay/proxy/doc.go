// Package proxy is the relay's front for a remote OAuth-protected MCP
// server (RELAY_MCP_URL): an MCP stdio server on one side, a Streamable
// HTTP client of the remote server on the other. It forwards the whole
// protocol both ways (requests, results and errors with the client's ids,
// notifications, cancellation, and the server's own requests such as
// sampling and elicitation), adding the OAuth Bearer token from the broker.
//
// Start-up never waits for a login: initialize (2025 era) and
// server/discover (2026-07-28) are answered within StartWait, with the
// server's real capabilities when a cached token lets the proxy connect in
// time, else with the capabilities it can forward; the lists are announced
// with list_changed notifications once the real ones are known. The first
// request that needs the server connects, and signs in on its 401.
//
// Upstream the proxy holds one 2025-era session with its own Streamable
// HTTP client (streamable.go, stream.go, listen.go, sse.go): initialize
// with the client's identity and capabilities, Mcp-Session-Id, responses
// as JSON or event streams, a GET stream for the server's own messages,
// streams resumed with Last-Event-ID after a drop. A 404 re-creates the
// session and the request is retried once. A server's request waits for
// the client's answer as long as the session lasts, or until the server
// cancels it. The package does not import mcp-go's client or server (the
// server's JSON Schema dependency would cost the relay's start-up); a test
// checks it. A 2026-07-28 client is mapped onto it: its per-request _meta
// is removed (its log level becomes logging/setLevel) and results get
// resultType.
//
// Authorization follows the MCP specification: a 401 names the protected
// resource metadata (RFC 9728) used to find the authorization server; the
// token is bound to the MCP URL (RFC 8707 resource); a 401 with a token
// leads to one refresh (else a sign-in) and one retry; a 403
// insufficient_scope leads to one step-up sign-in for the union of the
// scopes and one retry.
//
// Security properties: the token and the custom headers go only to the MCP
// URL (same scheme, host and path; redirects are never followed); header
// values are secrets, never logged nor put in errors; stdout carries
// protocol messages only; one message from either side is capped at
// MaxMessage; tokens are keyed in the vault by issuer, client and resource
// (the MCP URL), so relays for different servers never mix them.
//
// Non-goals: the 2026-07-28 era towards the server (the proxy always
// speaks the newest 2025 revision upstream), mapping server-initiated
// requests onto 2026-07-28 multi round-trip results (they are forwarded as
// requests, which the client may refuse), and the legacy HTTP+SSE
// transport.
package proxy
