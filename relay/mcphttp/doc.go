// Package proxy is the relay's front for a remote OAuth-protected MCP
// server (RELAY_MCP_URL): an MCP stdio server on one side, a Streamable
// HTTP client of the remote server on the other (or a client of the
// legacy HTTP+SSE transport, below). It forwards the whole
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
// Protocol eras (era.go). The proxy probes the server with server/discover
// and speaks the client's era when the server has it, else the server's,
// mapping between the two where they differ; the mapping follows each
// request's own _meta, so a client that says both still works.
//
//   - 2025-era server (streamable.go, stream.go, listen.go, sse.go): one
//     session, initialize with the client's identity and capabilities,
//     Mcp-Session-Id, responses as JSON or event streams, a GET stream for
//     the server's own messages, streams resumed with Last-Event-ID after a
//     drop. A 404 re-creates the session and the request is retried once.
//     A server's request waits for the client's answer as long as the
//     session lasts, or until the server cancels it.
//   - 2026-07-28 server: no session, no GET stream, no resumption; each
//     POST carries MCP-Protocol-Version, Mcp-Method, Mcp-Name and the
//     Mcp-Param-* headers of annotated tool arguments (headers.go); a
//     request is cancelled by closing its stream.
//   - 2026-07-28 client of a 2025-era server: its per-request _meta is
//     removed (its log level becomes logging/setLevel), results get
//     resultType, subscriptions/listen is served by the proxy (subs.go),
//     and a server request made during one of its requests (on that
//     request's stream, or on the GET stream while exactly one of its
//     requests is in flight) becomes an input_required result whose
//     requestState is the proxy's: the server's call is held open, and the
//     client's retry with inputResponses answers the held requests
//     (mrtr.go). A requestState is 256 random bits, bound to the held call
//     and to the request's method and name, good for one retry, valid 30
//     minutes, at most 64 at once (state.go); any other retry gets a
//     JSON-RPC error (-32602). A server request that belongs to no request
//     of the client (on the GET stream with none or several in flight)
//     cannot be mapped: the server gets a JSON-RPC error, logged at debug.
//   - 2025-era client of a 2026-07-28 server: initialize is answered from
//     server/discover, each request gets the per-request _meta (the
//     client's capabilities, identity and the level of its
//     logging/setLevel, which the proxy answers), an input_required result
//     becomes real requests to the client (sampling, elicitation, roots)
//     and a retry with inputResponses and requestState, at most 10 rounds
//     (bridge.go), and a subscriptions/listen of the proxy's carries the
//     list_changed and resource notifications the client expects
//     (resources/subscribe changes its filter; listenup.go).
//   - 2026-07-28 client of a 2026-07-28 server: passed through, with the
//     headers added.
//
// Legacy HTTP+SSE transport (MCP 2024-11-05; transport.go, legacysse.go,
// endpoint.go), chosen by Config.Transport (RELAY_MCP_TRANSPORT): auto
// (the default) speaks Streamable HTTP and falls back to it when the
// server answers the first POST, after any sign-in, with 404 or 405, and
// keeps it for the proxy's lifetime; sse uses only it; streamable-http
// never does, and says so when a POST gets 404 or 405. A GET to the MCP
// URL opens the stream, signing in on its 401; the first event, endpoint,
// names the URL to POST messages to; responses and the server's messages
// come on the stream, responses matched by id. It sits under the
// Streamable HTTP client as an http.RoundTripper, so the server speaks the
// 2025 era and everything above applies as for a 2025-era server: a
// server request while exactly one request is in flight belongs to that
// request (a 2026-07-28 client gets it as input_required). The stream is
// the session: when it drops, requests in flight fail with
// transport.ErrStreamDropped (they may or may not have run), and the proxy
// reconnects (a new GET, a new endpoint, initialize) in the background
// with the cached token only, after 1 s, doubling up to 30 s while
// attempts fail or streams drop soon after opening; a request meanwhile
// connects at once.
//
// The package does not import mcp-go's client or server (the server's
// JSON Schema dependency would cost the relay's start-up); a test checks
// it.
//
// Authorization follows the MCP specification: a 401 names the protected
// resource metadata (RFC 9728) used to find the authorization server; the
// token is bound to the MCP URL (RFC 8707 resource); a 401 with a token
// leads to one refresh (else a sign-in) and one retry; a 403
// insufficient_scope leads to one step-up sign-in for the union of the
// scopes and one retry.
//
// Security properties: the token and the custom headers go only to the MCP
// URL (same scheme, host and path; redirects are never followed), and to
// the message endpoint of a legacy SSE server, exactly (same path and
// query, not a prefix), once that endpoint, which the server writes, is
// found to be on the MCP URL's origin: same scheme, host and port, no
// userinfo, no fragment; any other endpoint is refused (ErrBadEndpoint)
// and never followed; cookies the server sets (cookies.go) stay in memory
// and go back to its origin only; tools hidden by RELAY_IGNORE_TOOLS
// (toolfilter.go) are left out of tools/list and their calls never reach
// the server; header values are secrets, never logged nor put in errors;
// stdout carries
// protocol messages only; one message from either side is capped at
// MaxMessage; tokens are keyed in the vault by issuer, client and resource
// (the MCP URL), so relays for different servers never mix them; a
// requestState of the proxy's (state.go) is unguessable, single use,
// bound, capped and expiring, and never goes to the server.
//
// Non-goals: sse-first (try the legacy transport before Streamable HTTP)
// and batches of the 2024-11-05 revision; server requests that belong
// to no request of a 2026-07-28 client (answered with an error, above);
// client notifications to a 2026-07-28 server (that era has none but
// cancellation, which closing the request's stream does: they are
// dropped); resuming a broken 2026-07-28 stream (that era has no
// resumption: the request fails).
package mcphttp
