package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// conn is one session with the server: mcp-go's Streamable HTTP transport
// (Mcp-Session-Id, SSE responses, the GET stream, resumption of a stream
// the server ends early with Last-Event-ID), over the auth layer.
type conn struct {
	tr           *transport.StreamableHTTP
	result       json.RawMessage // the server's initialize result
	caps         json.RawMessage
	serverInfo   json.RawMessage
	instructions string
	has          struct{ tools, resources, prompts bool }
}

// dial starts a session: initialize with the client's identity and
// capabilities, then notifications/initialized.
func (p *Proxy) dial(ctx context.Context) (*conn, error) {
	// The upstream speaks 2025-11-25, which has the standalone GET stream
	// for server-initiated messages.
	tr, err := transport.NewStreamableHTTP(p.cfg.URL, transport.WithHTTPBasicClient(p.http),
		transport.WithContinuousListening(), //lint:ignore SA1019 the 2025-11-25 era still has the GET stream
		transport.WithHTTPLogger(p.log.With("component", "mcp-transport")))
	if err != nil {
		return nil, err
	}
	tr.SetNotificationHandler(p.serverNotification)
	tr.SetRequestHandler(p.serverRequest)
	// The GET stream lives as long as the session, not the first request.
	if err := tr.Start(withOptions(p.ctx, callOptions{})); err != nil {
		return nil, err
	}
	c, err := p.handshake(ctx, tr)
	if err != nil {
		_ = tr.Close()
		return nil, err
	}
	return c, nil
}

func (p *Proxy) handshake(ctx context.Context, tr *transport.StreamableHTTP) (*conn, error) {
	resp, err := tr.SendRequest(ctx, transport.JSONRPCRequest{JSONRPC: mcp.JSONRPC_VERSION,
		ID: mcp.NewRequestId("keyrelay-initialize"), Method: "initialize", Params: p.client.initParams(p.cfg.Version)})
	if err != nil {
		return nil, err
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("the MCP server refused initialize: %s", sanitize(resp.Error.Message))
	}
	c := &conn{tr: tr, result: resp.Result}
	if err := c.parse(); err != nil {
		return nil, err
	}
	err = tr.SendNotification(ctx, mcp.JSONRPCNotification{JSONRPC: mcp.JSONRPC_VERSION,
		Notification: mcp.Notification{Method: string(mcp.MethodNotificationInitialized)}})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// parse reads the initialize result and sets the session's version.
func (c *conn) parse() error {
	var r struct {
		ProtocolVersion string          `json:"protocolVersion"`
		Capabilities    json.RawMessage `json:"capabilities"`
		ServerInfo      json.RawMessage `json:"serverInfo"`
		Instructions    string          `json:"instructions"`
	}
	if err := json.Unmarshal(c.result, &r); err != nil || !mcp.IsValidProtocolVersion(r.ProtocolVersion) {
		return fmt.Errorf("the MCP server's initialize result is not usable")
	}
	c.tr.SetProtocolVersion(r.ProtocolVersion)
	c.caps, c.serverInfo, c.instructions = r.Capabilities, r.ServerInfo, r.Instructions
	var has map[string]json.RawMessage
	_ = json.Unmarshal(r.Capabilities, &has)
	c.has.tools, c.has.resources, c.has.prompts = has["tools"] != nil, has["resources"] != nil, has["prompts"] != nil
	return nil
}

func (c *conn) close() { _ = c.tr.Close() }

// sessionHash identifies the session in logs without revealing its id.
func (c *conn) sessionHash() string {
	id := c.tr.GetSessionId()
	if id == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:4])
}

// serverNotification passes a server notification to the client.
func (p *Proxy) serverNotification(n mcp.JSONRPCNotification) {
	b, err := json.Marshal(n)
	if err != nil {
		return
	}
	var m message
	if json.Unmarshal(b, &m) != nil {
		return
	}
	_ = p.out.send(&m)
}

// serverRequest passes a server request (sampling, elicitation, roots) to
// the client under an id of the proxy's, and its answer back.
func (p *Proxy) serverRequest(ctx context.Context, req transport.JSONRPCRequest) (*transport.JSONRPCResponse, error) {
	if req.Method == string(mcp.MethodPing) {
		return transport.NewJSONRPCResultResponse(req.ID, json.RawMessage(`{}`)), nil
	}
	params, err := json.Marshal(req.Params)
	if err != nil {
		return nil, err
	}
	id, answer := p.asks.open()
	defer p.asks.close(id)
	if err := p.out.send(&message{JSONRPC: "2.0", ID: id, Method: req.Method, Params: params}); err != nil {
		return nil, err
	}
	select {
	case m := <-answer:
		return toResponse(req.ID, m), nil
	case <-ctx.Done():
		p.notify(ctx, "notifications/cancelled", map[string]any{"requestId": id, "reason": "the MCP server stopped waiting"})
		return nil, ctx.Err()
	}
}

func toResponse(id mcp.RequestId, m *message) *transport.JSONRPCResponse {
	if m.Error != nil {
		var data any
		_ = json.Unmarshal(m.Error.Data, &data)
		return transport.NewJSONRPCErrorResponse(id, m.Error.Code, m.Error.Message, data)
	}
	return transport.NewJSONRPCResultResponse(id, m.Result)
}
