package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/keyrelay/keyrelay/internal/mcp"
)

// conn is one connection to the server: the Streamable HTTP client
// (streamable.go) over the auth layer, in the era chosen for it (era.go).
type conn struct {
	tr           *streamable
	modern       bool            // 2026-07-28: no session, per-request _meta
	result       json.RawMessage // the server's initialize result (2025 era)
	caps         json.RawMessage
	serverInfo   json.RawMessage
	instructions string
	has          struct{ tools, resources, prompts bool }
	up           upListen // the proxy's subscriptions/listen (2026-07-28, for a 2025-era client)
}

// dial connects: server/discover tells the eras the server speaks, and
// the proxy chooses one (chooseModern). In the 2025 era it starts a
// session (initialize with the client's identity and capabilities,
// notifications/initialized) and opens the GET stream for the server's
// own messages; in the 2026-07-28 era there is nothing more to set up,
// except the notifications a 2025-era client expects (listenup.go).
func (p *Proxy) dial(ctx context.Context) (*conn, error) {
	// The session's streams live as long as the proxy, not this request.
	tr := newStreamable(withOptions(p.ctx, callOptions{}), p.cfg.URL, p.http, p.log.With("component", "mcp-transport"))
	tr.note = func(m *message) { p.serverNotification(tr.isModern(), m) }
	tr.ask = p.serverRequest
	c, err := p.handshake(ctx, tr)
	if err != nil {
		tr.close()
		return nil, err
	}
	if c.modern {
		if !p.client.isModern() {
			p.listenUp(c)
		}
	} else {
		tr.listen()
	}
	return c, nil
}

func (p *Proxy) handshake(ctx context.Context, tr *streamable) (*conn, error) {
	eras, err := p.probe(ctx, tr)
	if err != nil {
		return nil, err
	}
	modern, err := chooseModern(p.client.isModern(), eras)
	if err != nil {
		return nil, err
	}
	if modern {
		tr.setModern(&p.params)
		c := &conn{tr: tr, modern: true}
		return c, c.parseDiscover(eras.discover)
	}
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

// probe sends server/discover as a 2026-07-28 client would. A server that
// answers it with an HTTP error or a JSON-RPC error is 2025-era only;
// failures to reach it, or to authorize, end the attempt.
func (p *Proxy) probe(ctx context.Context, tr *streamable) (serverEras, error) {
	m := &message{JSONRPC: "2.0", ID: json.RawMessage(`1`), Method: "server/discover", Params: discoverProbe}
	resp, err := tr.call(context.WithValue(ctx, modernKey{}, true), m)
	var se *StatusError
	switch {
	case errors.As(err, &se):
		p.log.Debug("the MCP server refused server/discover: a 2025-era server", "status", se.Status)
		return serverEras{legacy: true}, nil
	case err != nil:
		return serverEras{}, err
	}
	e := erasFrom(resp)
	p.log.Debug("the MCP server's protocol eras", "2026-07-28", e.modern, "2025", e.legacy)
	return e, nil
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
	c.setHas()
	return nil
}

// parseDiscover reads a 2026-07-28 server's server/discover result.
func (c *conn) parseDiscover(result json.RawMessage) error {
	var r struct {
		Capabilities json.RawMessage `json:"capabilities"`
		Instructions string          `json:"instructions"`
		Meta         struct {
			ServerInfo json.RawMessage `json:"io.modelcontextprotocol/serverInfo"`
		} `json:"_meta"`
	}
	if err := json.Unmarshal(result, &r); err != nil {
		return fmt.Errorf("the MCP server's server/discover result is not usable")
	}
	c.caps, c.serverInfo, c.instructions = orJSON(r.Capabilities, `{}`), r.Meta.ServerInfo, r.Instructions
	c.setHas()
	return nil
}

func (c *conn) setHas() {
	var has map[string]json.RawMessage
	_ = json.Unmarshal(c.caps, &has)
	c.has.tools, c.has.resources, c.has.prompts = has["tools"] != nil, has["resources"] != nil, has["prompts"] != nil
}

func (c *conn) close() {
	c.up.stop()
	c.tr.close()
}

// sessionHash identifies the session in logs without revealing its id.
func (c *conn) sessionHash() string {
	id := c.tr.sessionID()
	if id == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:4])
}
