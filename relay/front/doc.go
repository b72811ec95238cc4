// Package front is the relay's one MCP stdio server: what Claude Code (or
// any MCP client) talks to, whatever is behind it. It owns the JSON-RPC
// messages and their ids, the line reader and writer (one size limit,
// MaxMessage), both protocol eras (the 2025 era's initialize handshake and
// the 2026-07-28 era's server/discover and per-request _meta: detection,
// the start-up answers, result decoration), ping and the log level, the
// relay's own notifications and requests to the client, cancellation, the
// keyrelay_status tool, and the texts the person sees for failures.
//
// Behind it is one Upstream: the backend's tool API (relay/toolapi) or a
// remote MCP server (relay/mcphttp). The front answers every malformed
// message the same way for both, and passes each well-formed request it
// does not answer itself to the upstream, on a goroutine of its own, with
// a context that the client's notifications/cancelled or the end of the
// session cancels. The shape is net/http's: one server loop, and handlers
// behind an interface; upstreams import this package, never the other way.
//
// Answers to bad input (JSON-RPC 2.0; MCP):
//   - a line that is not JSON: -32700, id null; JSON of another shape (a
//     batch, a method that is not a string): -32600, id null;
//   - a wrong or missing jsonrpc member: -32600 with the id;
//   - an id with no method, result or error: -32600 with the id;
//   - a line over MaxMessage: -32600, id null, and the stream goes on;
//   - params that are not an object: -32602;
//   - a request named like a notification (notifications/...): -32601;
//   - a blank line: nothing; a last line without a newline is read.
//
// Start-up never waits for a sign-in: initialize and server/discover are
// answered from Config.Describe, or from the upstream, which bounds its
// wait. The upstream is wired (Config.Wire: policy, vault, broker) on the
// first request that needs it; a bad configuration does not stop the
// server, every request answers with the reason instead.
//
// Security properties: stdout carries protocol messages only (the caller
// passes the real stdout and points os.Stdout elsewhere); one message is
// capped at MaxMessage, so a client sending an endless line cannot grow
// the relay; no token reaches a result, a log message or an error text
// (texts come from the errors' UserText, which never hold one); the
// relay's requests to the client use ids of its own, which no server id
// can collide with; a request cancelled by the client is not answered.
//
// Non-goals: transports other than stdio; JSON-RPC batches.
package front
