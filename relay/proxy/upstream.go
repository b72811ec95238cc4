package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
)

// conn is one session with the server: the Streamable HTTP client
// (streamable.go) over the auth layer.
type conn struct {
	tr           *streamable
	result       json.RawMessage // the server's initialize result
	caps         json.RawMessage
	serverInfo   json.RawMessage
	instructions string
	has          struct{ tools, resources, prompts bool }
}

// dial starts a session: initialize with the client's identity and
// capabilities, notifications/initialized, then the GET stream for the
// server's own messages (the upstream speaks 2025-11-25, which has it).
func (p *Proxy) dial(ctx context.Context) (*conn, error) {
	// The session's streams live as long as the proxy, not this request.
	tr := newStreamable(withOptions(p.ctx, callOptions{}), p.cfg.URL, p.http, p.log.With("component", "mcp-transport"))
	tr.note = p.serverNotification
	tr.ask = p.serverRequest
	c, err := p.handshake(ctx, tr)
	if err != nil {
		tr.close()
		return nil, err
	}
	tr.listen()
	return c, nil
}

func (p *Proxy) handshake(ctx context.Context, tr *streamable) (*conn, error) {
	params, err := json.Marshal(p.client.initParams(p.cfg.Version))
	if err != nil {
		return nil, err
	}
	resp, err := tr.call(ctx, &message{JSONRPC: "2.0", ID: json.RawMessage(`"keyrelay-initialize"`), Method: "initialize", Params: params})
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
	if err := tr.send(ctx, &message{JSONRPC: "2.0", Method: "notifications/initialized"}); err != nil {
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
	c.tr.setVersion(r.ProtocolVersion)
	c.caps, c.serverInfo, c.instructions = r.Capabilities, r.ServerInfo, r.Instructions
	var has map[string]json.RawMessage
	_ = json.Unmarshal(r.Capabilities, &has)
	c.has.tools, c.has.resources, c.has.prompts = has["tools"] != nil, has["resources"] != nil, has["prompts"] != nil
	return nil
}

func (c *conn) close() { c.tr.close() }

// sessionHash identifies the session in logs without revealing its id.
func (c *conn) sessionHash() string {
	id := c.tr.sessionID()
	if id == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:4])
}

// serverNotification passes a server notification to the client.
func (p *Proxy) serverNotification(m *message) { _ = p.out.send(m) }

// serverRequest passes a server request (sampling, elicitation, roots) to
// the client under an id of the proxy's, and returns the client's answer
// under the server's id. It waits as long as ctx: the session's lifetime,
// or until the server cancels the request.
func (p *Proxy) serverRequest(ctx context.Context, req *message) (*message, error) {
	if req.Method == "ping" {
		return resultMsg(req.ID, json.RawMessage(`{}`)), nil
	}
	id, answer := p.asks.open()
	defer p.asks.close(id)
	if err := p.out.send(&message{JSONRPC: "2.0", ID: id, Method: req.Method, Params: req.Params}); err != nil {
		return nil, err
	}
	select {
	case m := <-answer:
		return &message{JSONRPC: "2.0", ID: req.ID, Result: m.Result, Error: m.Error}, nil
	case <-ctx.Done():
		p.notify(ctx, "notifications/cancelled", map[string]any{"requestId": id, "reason": "the MCP server stopped waiting"})
		return nil, ctx.Err()
	}
}
