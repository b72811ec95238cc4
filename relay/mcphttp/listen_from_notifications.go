package mcphttp

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/relay/front"
)

// A 2026-07-28 client asks for notifications with subscriptions/listen: a
// request the server holds open, acknowledges with the types it grants,
// and answers only when the client cancels it. A 2025-era server has no
// such request; it sends list_changed notifications to every session and
// resource updates after resources/subscribe. For a 2026-07-28 client of
// a 2025-era server the relay serves subscriptions/listen itself:
// it subscribes upstream to the resources asked for, and passes on only
// the notifications of the types granted, tagged with the listen's id.

// listenLocal serves a 2026-07-28 client's subscriptions/listen on a
// 2025-era session, until the client cancels it.
func (p *Upstream) listenLocal(ctx context.Context, c *conn, m *front.Message) (*front.Message, error) {
	n, err := front.ListenFilter(m.Params)
	if err != nil {
		return front.Fail(m.ID, mcp.CodeInvalidParams, "subscriptions/listen: invalid params"), nil
	}
	f := c.filter(n.ToolsListChanged, n.PromptsListChanged, n.ResourcesListChanged, n.ResourceSubscriptions)
	f.ResourceSubscriptions = p.subscribeUp(ctx, f.ResourceSubscriptions, mcp.MethodResourcesSubscribe)
	p.listens.Add(m.ID, f)
	defer func() {
		p.listens.Remove(m.ID)
		var gone []string
		for _, uri := range f.ResourceSubscriptions {
			if !p.listens.Has(uri) {
				gone = append(gone, uri)
			}
		}
		p.subscribeUp(p.ctx, gone, mcp.MethodResourcesUnsubscribe)
	}()
	p.client.Send(front.Acknowledged(m.ID, f))
	if !f.Empty() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return front.Result(m.ID, front.ListenResult(m.ID)), nil
}

// subscribeUp sends method for each uri to the 2025-era session, and
// returns those it accepted.
func (p *Upstream) subscribeUp(ctx context.Context, uris []string, method string) []string {
	var ok []string
	for _, uri := range uris {
		params, _ := json.Marshal(map[string]string{"uri": uri})
		id, _ := json.Marshal("keyrelay-subscribe-" + strconv.FormatInt(p.seq.Add(1), 10))
		resp, err := p.call(ctx, method, id, params)
		if err != nil || resp.Error != nil {
			p.log.Debug("the MCP server refused a resource subscription change", "method", method, "err", err)
			continue
		}
		ok = append(ok, uri)
	}
	return ok
}
