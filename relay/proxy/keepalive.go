package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// keepAlive pings the server every Config.PingInterval while c is the live
// session (RELAY_PING_INTERVAL; mcp-remote's --keep-alive), so that an
// idle session, or a load balancer in front of it, is not reaped. Only
// 2025-era sessions and legacy SSE streams are kept alive: a 2026-07-28
// server holds no session. A ping uses the cached token only and never
// signs in; a server that forgot the session is dropped, and the next
// request starts a new one.
func (p *Proxy) keepAlive(c *conn) {
	t := time.NewTicker(p.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.tr.ctx.Done():
			return
		case <-t.C:
		}
		if p.conns.current() != c {
			return
		}
		id, _ := json.Marshal("keyrelay-ping-" + strconv.FormatInt(p.seq.Add(1), 10))
		ctx, cancel := context.WithTimeout(withOptions(c.tr.ctx, callOptions{cached: true}), p.cfg.Timeout)
		_, err := c.tr.call(ctx, &message{JSONRPC: "2.0", ID: id, Method: "ping"})
		cancel()
		switch {
		case errors.Is(err, ErrSessionGone):
			p.log.Info("the MCP server ended the session; the next request starts a new one", "session", c.sessionHash())
			p.drop(c)
			return
		case err != nil:
			p.log.Debug("keep-alive ping failed", "err", err)
		}
	}
}
