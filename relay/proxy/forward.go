package proxy

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/keyrelay/keyrelay/relay/signin"
)

// forward passes a client request to the server and its response back
// under the client's id. A request the client cancelled gets no response.
func (p *Proxy) forward(m *message) {
	if p.cfg.ConfigErr != nil {
		p.configAnswer(m)
		return
	}
	p.client.observe(m.Params)
	ctx, done := p.calls.start(p.ctx, m.ID)
	ui := signin.New(p.notify, progressToken(m.Params))
	defer ui.Stop()
	ctx = withOptions(ctx, callOptions{ui: ui})
	params, level := legacyParams(m.Params)
	p.setLevel(ctx, level)
	resp, err := p.call(ctx, m.Method, m.ID, params)
	if done() {
		return
	}
	switch {
	case err != nil:
		p.log.Warn("request failed", "method", sanitize(m.Method), "err", err)
		p.fail(m, errText(err))
	case resp.Error != nil:
		_ = p.out.send(&message{JSONRPC: "2.0", ID: m.ID, Error: resp.Error})
	default:
		_ = p.out.send(resultMsg(m.ID, p.decorate(resp.Result)))
	}
}

// call sends one request; after a 404 (the server ended the session) it
// starts a new session and sends it once more.
func (p *Proxy) call(ctx context.Context, method string, id, params json.RawMessage) (*message, error) {
	req := &message{JSONRPC: "2.0", ID: id, Method: method, Params: params}
	for attempt := 0; ; attempt++ {
		c, err := p.conn(ctx, false)
		if err != nil {
			return nil, err
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

// sendUp sends a notification to the live session, if any, best effort.
func (p *Proxy) sendUp(m *message) {
	c := p.conns.current()
	if c == nil {
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
