package mcphttp

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/relay/authhttp"
	"github.com/keyrelay/keyrelay/relay/front"
	"github.com/keyrelay/keyrelay/relay/mcphttp/transport"
)

// keepAlive pings the server every Config.PingInterval while c is the live
// session (RELAY_PING_INTERVAL; mcp-remote's --keep-alive), so that an
// idle session, or a load balancer in front of it, is not reaped. Only
// 2025-era sessions and legacy SSE streams are kept alive: a 2026-07-28
// server holds no session. A ping uses the cached token only and never
// signs in; a server that forgot the session is dropped, and the next
// request starts a new one.
func (p *Upstream) keepAlive(c *conn) {
	t := time.NewTicker(p.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.tr.Context().Done():
			return
		case <-t.C:
		}
		if p.conns.current() != c {
			return
		}
		id, _ := json.Marshal("keyrelay-ping-" + strconv.FormatInt(p.seq.Add(1), 10))
		ctx, cancel := context.WithTimeout(authhttp.WithMode(c.tr.Context(), authhttp.Cached), p.cfg.Timeout)
		_, err := c.tr.Call(ctx, &front.Message{JSONRPC: mcp.JSONRPCVersion, ID: id, Method: mcp.MethodPing})
		cancel()
		switch {
		case errors.Is(err, transport.ErrSessionGone):
			p.log.Info("the MCP server ended the session; the next request starts a new one", "session", c.sessionHash())
			p.drop(c)
			return
		case err != nil:
			p.log.Debug("keep-alive ping failed", "err", err)
		}
	}
}
