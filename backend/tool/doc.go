// Package tool is keyrelay's backend tool API: register tools with a name,
// a description, a JSON Schema for their arguments, whether they need a
// logged-in user and which scopes; then serve them over HTTP to the relay.
//
// A minimal backend:
//
//	v, _ := bearer.NewHMAC(bearer.Config{Issuer: iss, Audience: url}, secret)
//	s := tool.NewServer(tool.Config{PublicURL: url, AuthServers: []string{iss}, Validator: v})
//	s.Register(tool.Tool{
//		Name: "echo", Description: "Echo a message",
//		InputSchema: json.RawMessage(`{"type":"object","properties":{"message":{"type":"string"}},"required":["message"]}`),
//		Handler: func(ctx context.Context, args map[string]any, u *tool.User) (*tool.Result, error) {
//			return tool.Text(args["message"].(string)), nil
//		},
//	})
//	http.ListenAndServe(addr, s.Handler())
//
// The HTTP contract the relay speaks:
//
//   - GET /mcp/tools lists the tools. It is public.
//   - POST /mcp/tools/{name} with {"arguments":{...}} answers an MCP
//     CallToolResult. Unknown tool: 404. Bad JSON or content type: 400.
//     Arguments failing the schema: 400 naming the field. Body over 1 MiB:
//     413. A tool's own failure: 200 with isError true.
//   - GET /.well-known/oauth-protected-resource serves RFC 9728 metadata.
//
// Security properties: tokens are read only from the Authorization header
// and validated by package bearer before a body is read; a token presented
// to any tool must be valid; handlers get a User, never the raw token, so a
// token cannot be forwarded by accident; errors follow RFC 6750 and never
// echo a token; a panicking handler gives a 500 and the server keeps
// running.
//
// Non-goals: the full MCP protocol (the relay speaks MCP to the client; this
// is the relay's HTTP back side), sessions, and JSON Schema beyond the subset
// documented on Schema.
package tool
