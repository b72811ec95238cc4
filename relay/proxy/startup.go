package proxy

import (
	"context"
	"encoding/json"
	"time"

	"github.com/keyrelay/keyrelay/internal/mcp"
)

const instructions = "keyrelay forwards this MCP server with an OAuth sign-in. When a request needs a sign-in, " +
	"a browser opens; if it cannot, the result contains the URL to open."

// fallbackCaps are what the proxy can forward, announced when the server's
// own capabilities are not known at start-up.
var fallbackCaps = json.RawMessage(`{"tools":{"listChanged":true},"resources":{"listChanged":true,"subscribe":true},` +
	`"prompts":{"listChanged":true},"completions":{},"logging":{}}`)

// initialize answers a 2025-era client at once: with the server's result
// when a cached token connects within StartWait (a 2026-07-28 server's is
// made from its server/discover result), else with fallbackCaps.
func (p *Proxy) initialize(m *message) {
	p.client.initialized(m.Params)
	caps, info, instr := fallbackCaps, json.RawMessage(nil), instructions
	if c := p.startupConn(); c != nil && !c.modern {
		_ = p.out.send(resultMsg(m.ID, c.result))
		return
	} else if c != nil {
		caps, info, instr = c.caps, c.serverInfo, c.instructions
	}
	var asked struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	_ = json.Unmarshal(m.Params, &asked)
	var serverInfo any = mcp.Implementation{Name: "keyrelay", Version: p.cfg.Version}
	if info != nil {
		serverInfo = info
	}
	res := map[string]any{
		"protocolVersion": mcp.NegotiateLegacyVersion(asked.ProtocolVersion),
		"capabilities":    caps,
		"serverInfo":      serverInfo,
	}
	if instr != "" {
		res["instructions"] = instr
	}
	b, _ := json.Marshal(res)
	_ = p.out.send(resultMsg(m.ID, b))
}

// discover answers server/discover (2026-07-28) at once, like initialize.
func (p *Proxy) discover(m *message) {
	p.client.observe(m.Params)
	caps, info, instr := fallbackCaps, json.RawMessage(nil), instructions
	if c := p.startupConn(); c != nil {
		caps, info, instr = c.caps, c.serverInfo, c.instructions
	}
	if info == nil {
		info, _ = json.Marshal(mcp.Implementation{Name: "keyrelay", Version: p.cfg.Version})
	}
	res := map[string]any{
		"supportedVersions": mcp.ValidProtocolVersions,
		"capabilities":      caps,
		"resultType":        "complete",
		"ttlMs":             0,
		"cacheScope":        "private",
		"_meta":             map[string]any{mcp.MetaKeyServerInfo: info},
	}
	if instr != "" {
		res["instructions"] = instr
	}
	b, _ := json.Marshal(res)
	_ = p.out.send(resultMsg(m.ID, b))
}

// startupConn returns the server's session if a cached token connects it
// within StartWait, without any sign-in. Otherwise it returns nil at once
// (no token) or after StartWait, and the proxy announces the server's lists
// with list_changed once it connects.
func (p *Proxy) startupConn() *conn {
	if p.cfg.ConfigErr != nil {
		return nil
	}
	got := make(chan *conn, 1)
	go func() {
		ctx := withOptions(p.ctx, callOptions{quiet: true})
		c, _ := p.conn(ctx, true)
		got <- c
	}()
	timer := time.NewTimer(p.cfg.StartWait)
	defer timer.Stop()
	select {
	case c := <-got:
		if c != nil {
			return c
		}
	case <-timer.C:
	}
	p.client.setFallback(true)
	// A connection made meanwhile already announced nothing: do it now.
	if c := p.conns.current(); c != nil {
		p.announce(c)
	}
	return nil
}

// announce tells a client answered with fallbackCaps to list again, for
// each list the server has.
func (p *Proxy) announce(c *conn) {
	if !p.client.takeFallback() {
		return
	}
	for kind, has := range map[string]bool{"tools": c.has.tools, "resources": c.has.resources, "prompts": c.has.prompts} {
		if has {
			_ = p.out.send(notification("notifications/"+kind+"/list_changed", map[string]any{}))
		}
	}
}

// withoutCancel keeps ctx's values (the request's sign-in UI) for work
// that must outlive the request, bounded by the session and d.
func (p *Proxy) detached(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	stop := context.AfterFunc(p.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}
