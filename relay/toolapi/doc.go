// Package toolapi is the relay's upstream for the backend's tool API
// (backend mode): GET /mcp/tools lists the tools (public, no token), and
// POST /mcp/tools/{name} calls one, with a Bearer token when the tool
// says it needs a sign-in (_meta.requiresAuth). It serves tools/list
// (cached for ListTTL, a page of 1000 at a time), tools/call, and
// subscriptions/listen for tools list_changed, behind relay/front; the
// other MCP methods answer that the capability is not supported.
//
// Tokens come from the auth layer under its HTTP client
// (relay/authhttp): one 401/403 policy for both upstreams. A tool that
// needs no sign-in goes first without a token, so a backend that wants
// one after all makes the relay sign in on its 401.
//
// Security properties: the token goes only to the configured backend
// (URLs are built from its base; redirects are never followed); response
// bodies are capped (DefaultMaxBody) and read within the timeout;
// content blocks are checked (a known type; text blocks re-encoded), and
// a broken backend gives isError results, never a crash; errors shown to
// the person (BackendError.Reason) never hold a token or a raw body: a
// 4xx error_description is scrubbed of the token the request carried; a
// tool whose x-mcp-header annotations break the rules is not listed; a
// client calling made-up names while the backend is down can add at most
// 64 placeholder tools.
//
// Non-goals: resources, prompts, tasks, completions, and requests from
// the backend to the client (sampling, elicitation, roots).
package toolapi
