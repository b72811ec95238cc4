package mcphttp

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/relay/front"
	"github.com/keyrelay/keyrelay/relay/mcphttp/transport"
)

// Request implements front.Upstream: it passes a client request to the
// server, mapping between the client's era (the request's own) and the
// server's, and returns the server's answer.
func (p *Upstream) Request(ctx context.Context, r *front.Call) (*front.Message, error) {
	m := front.Request(r.ID, r.Method, r.Params)
	if m.Method == mcp.MethodToolsCall && len(p.tools) > 0 {
		if name, ok := exactName(m.Params); !ok || p.tools.hides(name) {
			p.log.Debug("refused a call of an ignored tool", "tool", front.Scrub(name))
			return front.Fail(m.ID, mcp.CodeInvalidParams, "tool "+strconv.Quote(front.Scrub(name))+" is not available (RELAY_IGNORE_TOOLS)"), nil
		}
	}
	resp, err := p.exchange(ctx, m, r.Era.Modern)
	if err != nil {
		return nil, explain(err)
	}
	if m.Method == mcp.MethodToolsList && resp.Error == nil {
		resp.Result = p.tools.filterTools(resp.Result)
	}
	return resp, nil
}

// exchange maps m between the client's era (its own _meta says) and the
// server's (the connection's), and returns the server's answer.
func (p *Upstream) exchange(ctx context.Context, m *front.Message, modern bool) (*front.Message, error) {
	c, err := p.conn(ctx, false)
	if err != nil {
		return nil, err
	}
	switch {
	case c.modern:
		return p.toModern(ctx, c, m, modern)
	case modern && m.Method == mcp.MethodSubscriptionsListen:
		return p.listenLocal(ctx, c, m)
	case modern && mayNeedInput(m.Method):
		return p.mrtr(ctx, m)
	}
	return p.toLegacy(ctx, m)
}

// toLegacy sends m to a 2025-era session: without the 2026-07-28 _meta,
// whose log level becomes logging/setLevel.
func (p *Upstream) toLegacy(ctx context.Context, m *front.Message) (*front.Message, error) {
	params, level := legacyParams(m.Params)
	p.setLevel(ctx, level)
	return p.call(ctx, m.Method, m.ID, params)
}

// toModern sends m to a 2026-07-28 server. A 2026-07-28 client's request
// passes as it is; a 2025-era client's gets the per-request _meta, its
// session-wide requests are answered here, and the server's requests for
// input become requests to it (input_to_requests.go).
func (p *Upstream) toModern(ctx context.Context, c *conn, m *front.Message, modern bool) (*front.Message, error) {
	if !modern {
		if resp := p.legacyLocal(c, m); resp != nil {
			return resp, nil
		}
		p.listenUp(c)
	}
	var rm requestMeta // a 2026-07-28 client says it all itself
	if !modern {
		rm = p.clientMeta()
	}
	params, err := modernParams(m.Params, rm)
	if err != nil {
		return front.Fail(m.ID, mcp.CodeInvalidParams, err.Error()), nil
	}
	req := &front.Message{JSONRPC: mcp.JSONRPCVersion, ID: m.ID, Method: m.Method, Params: params}
	resp, err := c.tr.Call(ctx, req)
	if err != nil {
		return nil, err
	}
	if m.Method == mcp.MethodToolsList && resp.Result != nil {
		p.params.learn(resp.Result)
	}
	if !modern {
		return p.fulfil(ctx, c, req, resp)
	}
	return resp, nil
}

// legacyLocal answers a 2025-era client's requests that have no
// 2026-07-28 counterpart upstream: the log level and resource
// subscriptions belong to the session, which the relay keeps.
func (p *Upstream) legacyLocal(c *conn, m *front.Message) *front.Message {
	var params struct {
		URI string `json:"uri"`
	}
	switch m.Method {
	case mcp.MethodSetLevel:
		// The front keeps the level; it goes in each request's _meta.
	case mcp.MethodResourcesSubscribe, mcp.MethodResourcesUnsubscribe:
		_ = json.Unmarshal(m.Params, &params)
		if c.up.subscribe(params.URI, m.Method == mcp.MethodResourcesSubscribe) {
			p.restartListen(c)
		}
	default:
		return nil
	}
	return front.Result(m.ID, json.RawMessage(`{}`))
}

// call sends one request to a 2025-era session; after a 404 (the server
// ended the session) it starts a new one and sends it once more.
func (p *Upstream) call(ctx context.Context, method string, id, params json.RawMessage) (*front.Message, error) {
	req := &front.Message{JSONRPC: mcp.JSONRPCVersion, ID: id, Method: method, Params: params}
	for attempt := 0; ; attempt++ {
		c, err := p.conn(ctx, false)
		if err != nil {
			return nil, err
		}
		if c.modern {
			return nil, errors.New("the MCP server changed its protocol era; try again")
		}
		resp, err := c.tr.Call(ctx, req)
		if errors.Is(err, transport.ErrSessionGone) && attempt == 0 {
			p.log.Info("the MCP server ended the session; starting a new one", "session", c.sessionHash())
			p.drop(c)
			continue
		}
		return resp, err
	}
}

// setLevel maps a 2026-07-28 client's per-request log level onto
// logging/setLevel for the 2025-era session, when it changes.
func (p *Upstream) setLevel(ctx context.Context, level string) {
	if level = p.levelChange(level); level == "" {
		return
	}
	params, _ := json.Marshal(map[string]string{"level": level})
	id, _ := json.Marshal("keyrelay-setlevel")
	if _, err := p.call(ctx, mcp.MethodSetLevel, id, params); err != nil {
		p.log.Debug("could not set the log level at the MCP server", "err", err)
	}
}

// sendUp sends a notification to the live 2025-era session, if any, best
// effort. A 2026-07-28 server takes none: a request is cancelled by
// closing its stream, and the rest have no counterpart.
func (p *Upstream) sendUp(m *front.Message) {
	c := p.conns.current()
	if c == nil || p.ctx.Err() != nil {
		return
	}
	if c.modern {
		p.log.Debug("a client notification has no 2026-07-28 counterpart; not passed on", "method", front.Scrub(m.Method))
		return
	}
	params, _ := legacyParams(m.Params)
	n := &front.Message{JSONRPC: mcp.JSONRPCVersion, Method: m.Method, Params: params}
	if err := c.tr.Send(p.ctx, n); err != nil {
		p.log.Debug("could not pass a notification to the MCP server", "method", front.Scrub(m.Method), "err", err)
	}
}
