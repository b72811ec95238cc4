package front

import (
	"context"
	"encoding/json"

	"github.com/keyrelay/keyrelay/internal/mcp"
)

// Upstream is what the front forwards to: the backend's tool API
// (relay/toolapi) or a remote MCP server (relay/mcphttp). The front
// answers the protocol's own requests (the handshake, ping, the log
// level's checks) and every malformed message; everything else goes to
// the upstream. Its methods are called concurrently.
type Upstream interface {
	// Describe tells what initialize and server/discover answer with. It
	// may wait a little (a remote server connecting with a cached token),
	// never for a sign-in.
	Describe(ctx context.Context) Description
	// Request answers one client request: a response (its id is the
	// front's business), or an error the front turns into a text for the
	// person (UserText). ctx ends when the client cancels the request or
	// the session ends; then nothing is answered. ctx carries the
	// request's era (EraFrom) and sign-in UI (signin.FromContext).
	Request(ctx context.Context, r *Call) (*Message, error)
	// Notify passes a client notification on, best effort.
	Notify(ctx context.Context, m *Message)
	// Close ends the upstream's sessions, at the end of the stdio stream.
	Close()
}

// Call is one client request for the upstream.
type Call struct {
	ID     json.RawMessage
	Method string
	Params json.RawMessage
	Era    Era
}

// Description is what initialize and server/discover say about the
// server.
type Description struct {
	Capabilities json.RawMessage
	ServerInfo   json.RawMessage // nil: keyrelay's own
	Instructions string
	// Initialize, if set, is a 2025-era server's own initialize result,
	// answered as it is to a 2025-era client.
	Initialize json.RawMessage
}

// Client is what an upstream may do with the MCP client at the other end
// of stdio. Its methods are safe for concurrent use and never block on a
// slow client for long: a failed write is sticky.
type Client interface {
	// Send passes a message of the server's on to the client as it is: a
	// notification (only once the client has initialized).
	Send(m *Message)
	// Notify sends a notification of the relay's own. A log message
	// (notifications/message) passes only the level the client asked for:
	// logging/setLevel (default error), or for a 2026-07-28 request (ctx)
	// the level in its _meta (none: no log messages).
	Notify(ctx context.Context, method string, params map[string]any)
	// Ask sends the client a request under an id of the relay's own and
	// waits for its answer, or for ctx (then the client is told the
	// request is cancelled).
	Ask(ctx context.Context, method string, params json.RawMessage) (*Message, error)
	// State is what the client has said about itself so far.
	State() ClientState
}

// ClientState is what the client said about itself: in initialize (2025
// era), or in the _meta of its 2026-07-28 requests.
type ClientState struct {
	Modern  bool            // it spoke 2026-07-28 last
	Version string          // the protocol version it asked for
	Info    json.RawMessage // clientInfo
	Caps    json.RawMessage // its capabilities
	// LogLevel is what a 2025-era client set with logging/setLevel; ""
	// when it set none.
	LogLevel mcp.LoggingLevel
}
