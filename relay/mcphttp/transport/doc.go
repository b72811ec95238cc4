// Package transport holds the relay's HTTP transports towards a remote MCP
// server, for relay/mcphttp: Streamable HTTP (streamable.go, stream.go,
// listen.go: POSTs answered with JSON or event streams, the GET stream,
// resumption with Last-Event-ID), the legacy HTTP+SSE transport of MCP
// 2024-11-05 (legacysse.go, endpoint.go, eventpipe.go: an
// http.RoundTripper under the Streamable HTTP client), the SSE parser
// (sse.go), the cookie jar (cookies.go), and the guard and header layers
// around the auth layer (guard.go).
//
// The stack a request goes through: Guard (is the URL the MCP URL, or the
// accepted message endpoint?), authhttp.Transport (the token, the 401/403
// policy), Headers (the custom headers, body caps), then the network.
//
// Security properties: every stream and body of the server's is parsed as
// untrusted input and capped (front.MaxMessage per line, event or JSON
// body); a legacy server's endpoint event is accepted only on the MCP
// URL's origin, with no userinfo or fragment, and never followed
// otherwise; the Mcp-Session-Id is a secret.Value; errors never hold a
// body, a token or the endpoint's query (which holds the server's session
// id).
//
// Non-goals: WebSockets; the 2026-07-28 era's own rules beyond its headers
// (relay/mcphttp maps the eras).
package transport
