package mcphttp

import (
	"context"
	"encoding/json"
	"time"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/relay/authhttp"
	"github.com/keyrelay/keyrelay/relay/front"
)

const instructions = "keyrelay forwards this MCP server with an OAuth sign-in. When a request needs a sign-in, " +
	"a browser opens; if it cannot, the result contains the URL to open."

// fallbackCaps are what the relay can forward, announced when the server's
// own capabilities are not known at start-up.
var fallbackCaps = json.RawMessage(`{"tools":{"listChanged":true},"resources":{"listChanged":true,"subscribe":true},` +
	`"prompts":{"listChanged":true},"completions":{},"logging":{}}`)

// Describe implements front.Upstream: the server's own description when
// a cached token connects within StartWait (a 2025-era server's
// initialize result, or a 2026-07-28 server's server/discover result),
// else fallbackCaps; the lists are then announced with list_changed
// notifications once the server is connected.
func (p *Upstream) Describe(context.Context) front.Description {
	c := p.startupConn()
	switch {
	case c == nil:
		return front.Description{Capabilities: fallbackCaps, Instructions: instructions}
	case c.modern:
		return front.Description{Capabilities: c.caps, ServerInfo: c.serverInfo, Instructions: c.instructions}
	}
	return front.Description{Capabilities: c.caps, ServerInfo: c.serverInfo, Instructions: c.instructions, Initialize: c.result}
}

// startupConn returns the server's session if a cached token connects it
// within StartWait, without any sign-in. Otherwise it returns nil at once
// (no token) or after StartWait, and the relay announces the server's lists
// with list_changed once it connects.
func (p *Upstream) startupConn() *conn {
	got := make(chan *conn, 1)
	go func() {
		c, _ := p.conn(authhttp.WithMode(p.ctx, authhttp.Probe), true)
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
	p.setFallback(true)
	// A connection made meanwhile already announced nothing: do it now.
	if c := p.conns.current(); c != nil {
		p.announce(c)
	}
	return nil
}

// announce tells a client answered with fallbackCaps to list again, for
// each list the server has.
func (p *Upstream) announce(c *conn) {
	if !p.takeFallback() {
		return
	}
	for method, has := range map[string]bool{mcp.MethodNotificationToolsListChanged: c.has.tools,
		mcp.MethodNotificationResourcesListChanged: c.has.resources, mcp.MethodNotificationPromptsListChanged: c.has.prompts} {
		if has {
			p.client.Send(front.Notification(method, map[string]any{}))
		}
	}
}

// withoutCancel keeps ctx's values (the request's sign-in UI) for work
// that must outlive the request, bounded by the session and d.
func (p *Upstream) detached(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	stop := context.AfterFunc(p.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}
