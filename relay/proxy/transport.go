package proxy

import "fmt"

// The transports towards the server (Config.Transport, RELAY_MCP_TRANSPORT).
const (
	// TransportAuto, the default: Streamable HTTP, and the legacy HTTP+SSE
	// transport when the server answers the first POST (after any
	// sign-in) with 404 or 405, as the MCP specification's backwards
	// compatibility section and mcp-remote's http-first do. Once found,
	// the legacy transport is kept for the proxy's lifetime.
	TransportAuto = "auto"
	// TransportStreamable is Streamable HTTP only.
	TransportStreamable = "streamable-http"
	// TransportSSE is the legacy HTTP+SSE transport (MCP 2024-11-05) only.
	TransportSSE = "sse"
)

// transport is the configured transport; "" is TransportAuto.
func (p *Proxy) transport() (string, error) {
	switch t := p.cfg.Transport; t {
	case "", TransportAuto:
		return TransportAuto, nil
	case TransportStreamable, TransportSSE:
		return t, nil
	}
	return "", fmt.Errorf("proxy: unknown transport %q: want auto, streamable-http or sse", sanitize(p.cfg.Transport))
}
