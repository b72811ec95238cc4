// Package mcphttp is the relay's upstream for a remote OAuth-protected MCP
// server (RELAY_MCP_URL), behind relay/front. It forwards the protocol both
// ways: the client's requests, notifications and cancellations, the
// server's notifications and requests (sampling, elicitation, roots), with
// the token from the auth layer (relay/authhttp) on every request to the
// MCP URL. The HTTP transports are in relay/mcphttp/transport.
//
// Start-up never waits for a sign-in: Describe connects with a cached
// token only, within StartWait, else answers with the capabilities the
// relay can forward and announces the server's lists with list_changed
// once it connects (describe.go). The first request that needs the server
// connects (conn.go, dial.go), and signs in on its 401.
//
// Eras. The relay probes the server with server/discover and speaks the
// client's era when the server has it, else the server's (eras.go); each
// request's own _meta says the client's era. The mappings, one file each:
//   - a 2025-era client's session, made per-request _meta for a 2026-07-28
//     server: session_to_meta.go; the reverse: meta_to_session.go;
//   - a 2025-era server's requests, made input_required results for a
//     2026-07-28 client, whose retries answer them: requests_to_input.go,
//     with requeststate.go (the requestState: 256 random bits, single use,
//     bound to the request, 30 minutes, at most 64);
//   - a 2026-07-28 server's input_required results, made requests to a
//     2025-era client: input_to_requests.go (at most 10 rounds);
//   - a 2026-07-28 client's subscriptions/listen, served from a 2025-era
//     server's notifications: listen_from_notifications.go; a 2025-era
//     client's notifications, from a 2026-07-28 server's listen:
//     notifications_from_listen.go;
//   - a 2026-07-28 server's Mcp-Method, Mcp-Name and Mcp-Param-* headers:
//     headers.go.
//
// A server request that belongs to no request of a 2026-07-28 client
// cannot be mapped: the server gets a JSON-RPC error (server_messages.go).
// RELAY_IGNORE_TOOLS hides tools (toolfilter.go); RELAY_PING_INTERVAL keeps
// a 2025-era session alive (keepalive.go).
//
// Security properties: the token and the custom headers go only to the MCP
// URL (same scheme, host and path; redirects are never followed), and to a
// legacy SSE server's message endpoint once it is found to be on the MCP
// URL's origin (transport.Guard); cookies stay in memory and go back to
// the MCP URL's origin only; hidden tools never reach the server; header
// values and the Mcp-Session-Id are secrets, never logged (sessions are
// logged by a short hash); one message from the server is capped at
// front.MaxMessage; a requestState of the relay's never goes to the server.
// Tokens are keyed in the vault by issuer, client and resource (the MCP
// URL).
//
// Non-goals: sse-first (try the legacy transport before Streamable HTTP),
// batches, client notifications to a 2026-07-28 server (that era has none
// but cancellation, which closing the request's stream does), resuming a
// broken 2026-07-28 stream (that era has no resumption).
package mcphttp
