package mcphttp

import (
	"context"
	"encoding/json"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/relay/front"
)

// The server's requests to the client, in both directions of the mapping:
// a 2025-era server's requests reach a 2025-era client as they are, and a
// 2026-07-28 client as input_required results (mrtr.go); a 2026-07-28
// server's input_required results reach a 2025-era client as requests.

// serverNotification passes a server notification to the client. The
// acknowledgement of the proxy's own subscriptions/listen is not for a
// 2025-era client; a 2026-07-28 client of a 2025-era server gets the
// notifications it subscribed to through its subscriptions/listen.
func (p *Upstream) serverNotification(upModern bool, m *front.Message) {
	modern := p.client.State().Modern
	switch {
	case !modern && m.Method == mcp.MethodNotificationSubscriptionsAcknowledged:
		return
	case modern && !upModern && front.Subscribable(m.Method):
		p.listens.Deliver(p.client, m)
		return
	}
	p.client.Send(m)
}

// serverRequest answers a server request (sampling, elicitation, roots):
// made during a 2026-07-28 client's request, it waits for the client's
// retry (requests_to_input.go; on the GET stream, the one such request in flight);
// else it goes to the client under an id of the relay's
// and the answer comes back under the server's id. It waits as long as
// ctx: the session's lifetime, or until the server cancels the request.
func (p *Upstream) serverRequest(ctx context.Context, req *front.Message) (*front.Message, error) {
	if req.Method == mcp.MethodPing {
		return front.Result(req.ID, json.RawMessage(`{}`)), nil
	}
	if rt := tripFrom(ctx); rt != nil {
		return rt.hold(ctx, req)
	}
	if p.client.State().Modern {
		if rt := p.trips.only(); rt != nil {
			return rt.hold(ctx, req)
		}
		p.log.Debug("the MCP server made a request outside any one client request, which a 2026-07-28 client cannot take",
			"method", front.Scrub(req.Method))
		return front.Fail(req.ID, mcp.CodeMethodNotFound, "keyrelay: the client takes requests only as input_required results of its own requests"), nil
	}
	m, err := p.client.Ask(ctx, req.Method, req.Params)
	if err != nil {
		return nil, err
	}
	return &front.Message{JSONRPC: mcp.JSONRPCVersion, ID: req.ID, Result: m.Result, Error: m.Error}, nil
}
