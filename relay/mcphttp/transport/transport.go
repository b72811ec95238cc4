package transport

import (
	"fmt"

	"github.com/keyrelay/keyrelay/relay/front"
)

// The transports towards the server (RELAY_MCP_TRANSPORT).
const (
	// Auto, the default: Streamable HTTP, and the legacy HTTP+SSE
	// transport when the server answers the first POST (after any
	// sign-in) with 404 or 405, as the MCP specification's backwards
	// compatibility section and mcp-remote's http-first do. Once found,
	// the legacy transport is kept for the relay's lifetime.
	Auto = "auto"
	// StreamableHTTP is Streamable HTTP only.
	StreamableHTTP = "streamable-http"
	// SSE is the legacy HTTP+SSE transport (MCP 2024-11-05) only.
	SSE = "sse"
)

// Choice checks a configured transport; "" is Auto.
func Choice(t string) (string, error) {
	switch t {
	case "", Auto:
		return Auto, nil
	case StreamableHTTP, SSE:
		return t, nil
	}
	return "", fmt.Errorf("mcphttp: unknown transport %q: want auto, streamable-http or sse", front.Scrub(t))
}
