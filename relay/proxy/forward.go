package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/keyrelay/keyrelay/relay/signin"
)

// forward passes a client request to the server and its response back
// under the client's id. A request the client cancelled gets no response.
func (p *Proxy) forward(m *message) {
	if p.cfg.ConfigErr != nil {
		p.configAnswer(m)
		return
	}
	if m.Method == "tools/call" && len(p.tools) > 0 {
		if name, ok := exactName(m.Params); !ok || p.tools.hides(name) {
			p.log.Debug("refused a call of an ignored tool", "tool", sanitize(name))
			_ = p.out.send(errorMsg(m.ID, codeInvalidParams, "tool "+strconv.Quote(sanitize(name))+" is not available (RELAY_IGNORE_TOOLS)"))
			return
		}
	}
	p.client.observe(m.Params)
	ctx, done := p.calls.start(p.ctx, m.ID)
	ui := signin.New(p.notify, progressToken(m.Params))
	defer ui.Stop()
	ctx = withOptions(ctx, callOptions{ui: ui})
	resp, err := p.exchange(ctx, m)
	if done() {
		return
	}
	if err != nil && p.ctx.Err() != nil {
		// The session ended (stdin closed, or a signal) and cancelled the
		// request: nobody waits for its answer. A subscriptions/listen
		// ends this way.
		p.log.Debug("request ended with the session", "method", sanitize(m.Method))
		return
	}
	switch {
	case err != nil:
		p.log.Warn("request failed", "method", sanitize(m.Method), "err", err)
		p.fail(m, errText(err))
	case resp.Error != nil:
		_ = p.out.send(&message{JSONRPC: "2.0", ID: m.ID, Error: resp.Error})
	default:
		result := resp.Result
		if m.Method == "tools/list" {
			result = p.tools.filterTools(result)
		}
		if modernRequest(m.Params) {
			result = modernResult(m.Method, result)
		}
		_ = p.out.send(resultMsg(m.ID, result))
	}
}

// exchange maps m between the client's era (its own _meta says) and the
// server's (the connection's), and returns the server's answer.
func (p *Proxy) exchange(ctx context.Context, m *message) (*message, error) {
	c, err := p.conn(ctx, false)
	if err != nil {
		return nil, err
	}
	modern := modernRequest(m.Params)
	switch {
	case c.modern:
		return p.toModern(ctx, c, m, modern)
	case modern && m.Method == "subscriptions/listen":
		return p.listenLocal(ctx, c, m)
	case modern && mayNeedInput(m.Method):
		return p.mrtr(ctx, m)
	}
	return p.toLegacy(ctx, m)
}

// toLegacy sends m to a 2025-era session: without the 2026-07-28 _meta,
// whose log level becomes logging/setLevel.
func (p *Proxy) toLegacy(ctx context.Context, m *message) (*message, error) {
	params, level := legacyParams(m.Params)
	p.setLevel(ctx, level)
	return p.call(ctx, m.Method, m.ID, params)
}

// toModern sends m to a 2026-07-28 server. A 2026-07-28 client's request
// passes as it is; a 2025-era client's gets the per-request _meta, its
// session-wide requests are answered here, and the server's requests for
// input become requests to it (bridge.go).
func (p *Proxy) toModern(ctx context.Context, c *conn, m *message, modern bool) (*message, error) {
	if !modern {
		if resp := p.legacyLocal(c, m); resp != nil {
			return resp, nil
		}
		p.listenUp(c)
	}
	var rm requestMeta // a 2026-07-28 client says it all itself
	if !modern {
		rm = p.client.meta()
	}
	params, err := modernParams(m.Params, rm)
	if err != nil {
		return errorMsg(m.ID, codeInvalidParams, err.Error()), nil
	}
	req := &message{JSONRPC: "2.0", ID: m.ID, Method: m.Method, Params: params}
	resp, err := c.tr.call(ctx, req)
	if err != nil {
		return nil, err
	}
	if m.Method == "tools/list" && resp.Result != nil {
		p.params.learn(resp.Result)
	}
	if !modern {
		return p.fulfil(ctx, c, req, resp)
	}
	return resp, nil
}

// legacyLocal answers a 2025-era client's requests that have no
// 2026-07-28 counterpart upstream: the log level and resource
// subscriptions belong to the session, which the proxy keeps.
func (p *Proxy) legacyLocal(c *conn, m *message) *message {
	var params struct {
		Level string `json:"level"`
		URI   string `json:"uri"`
	}
	switch m.Method {
	case "logging/setLevel":
		_ = json.Unmarshal(m.Params, &params)
		p.client.setAskedLevel(params.Level)
	case "resources/subscribe", "resources/unsubscribe":
		_ = json.Unmarshal(m.Params, &params)
		if c.up.subscribe(params.URI, m.Method == "resources/subscribe") {
			p.restartListen(c)
		}
	default:
		return nil
	}
	return resultMsg(m.ID, json.RawMessage(`{}`))
}

// call sends one request to a 2025-era session; after a 404 (the server
// ended the session) it starts a new one and sends it once more.
func (p *Proxy) call(ctx context.Context, method string, id, params json.RawMessage) (*message, error) {
	req := &message{JSONRPC: "2.0", ID: id, Method: method, Params: params}
	for attempt := 0; ; attempt++ {
		c, err := p.conn(ctx, false)
		if err != nil {
			return nil, err
		}
		if c.modern {
			return nil, errors.New("the MCP server changed its protocol era; try again")
		}
		resp, err := c.tr.call(ctx, req)
		if errors.Is(err, ErrSessionGone) && attempt == 0 {
			p.log.Info("the MCP server ended the session; starting a new one", "session", c.sessionHash())
			p.drop(c)
			continue
		}
		return resp, err
	}
}

// setLevel maps a 2026-07-28 client's per-request log level onto
// logging/setLevel for the 2025-era session, when it changes.
func (p *Proxy) setLevel(ctx context.Context, level string) {
	if level = p.client.levelChange(level); level == "" {
		return
	}
	params, _ := json.Marshal(map[string]string{"level": level})
	id, _ := json.Marshal("keyrelay-setlevel")
	if _, err := p.call(ctx, "logging/setLevel", id, params); err != nil {
		p.log.Debug("could not set the log level at the MCP server", "err", err)
	}
}

// clientNotification passes a client notification to the live session.
// notifications/initialized is the proxy's own business upstream;
// notifications/cancelled also stops the local wait.
func (p *Proxy) clientNotification(m *message) {
	switch m.Method {
	case "notifications/initialized":
		return
	case "notifications/cancelled":
		var c struct {
			RequestID json.RawMessage `json:"requestId"`
		}
		if json.Unmarshal(m.Params, &c) != nil || !p.calls.isPending(c.RequestID) {
			return
		}
		p.sendUp(m)
		p.calls.stop(c.RequestID)
		return
	}
	p.sendUp(m)
}

// sendUp sends a notification to the live 2025-era session, if any, best
// effort. A 2026-07-28 server takes none: a request is cancelled by
// closing its stream, and the rest have no counterpart.
func (p *Proxy) sendUp(m *message) {
	c := p.conns.current()
	if c == nil || p.ctx.Err() != nil {
		return
	}
	if c.modern {
		p.log.Debug("a client notification has no 2026-07-28 counterpart; not passed on", "method", sanitize(m.Method))
		return
	}
	params, _ := legacyParams(m.Params)
	n := &message{JSONRPC: "2.0", Method: m.Method, Params: params}
	if err := c.tr.send(withOptions(p.ctx, callOptions{}), n); err != nil {
		p.log.Debug("could not pass a notification to the MCP server", "method", sanitize(m.Method), "err", err)
	}
}

// decorate adds what the client's era requires to a result.
func (p *Proxy) decorate(result json.RawMessage) json.RawMessage {
	if p.client.isModern() {
		return withResultType(result)
	}
	return result
}

// fail answers a request that could not be forwarded: a tool call gets an
// isError result the person sees, anything else a JSON-RPC error.
func (p *Proxy) fail(m *message, text string) {
	if m.Method == "tools/call" {
		b, _ := json.Marshal(map[string]any{"content": []any{map[string]string{"type": "text", "text": text}}, "isError": true})
		_ = p.out.send(resultMsg(m.ID, p.decorate(b)))
		return
	}
	_ = p.out.send(errorMsg(m.ID, codeInternal, text))
}
