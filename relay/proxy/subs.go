package proxy

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
)

// A 2026-07-28 client asks for notifications with subscriptions/listen: a
// request the server holds open, acknowledges with the types it grants,
// and answers only when the client cancels it. A 2025-era server has no
// such request; it sends list_changed notifications to every session and
// resource updates after resources/subscribe. For a 2026-07-28 client of
// a 2025-era server the proxy serves subscriptions/listen itself:
// it subscribes upstream to the resources asked for, and passes on only
// the notifications of the types granted, tagged with the listen's id.

// subscribable are the notifications that need a subscription in the
// 2026-07-28 era.
func subscribable(method string) bool {
	switch method {
	case "notifications/tools/list_changed", "notifications/prompts/list_changed",
		"notifications/resources/list_changed", "notifications/resources/updated":
		return true
	}
	return false
}

// subscriptions are a client's open subscriptions/listen requests. Safe
// for concurrent use.
type subscriptions struct {
	mu   sync.Mutex
	open map[string]listen // by id
}

type listen struct {
	id json.RawMessage
	f  filter
}

func (s *subscriptions) add(l listen) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open == nil {
		s.open = map[string]listen{}
	}
	s.open[idKey(l.id)] = l
}

func (s *subscriptions) remove(id json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.open, idKey(id))
}

// has reports whether an open listen has uri.
func (s *subscriptions) has(uri string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.open {
		if slices.Contains(l.f.ResourceSubscriptions, uri) {
			return true
		}
	}
	return false
}

// deliver sends m on each open listen that granted its type.
func (s *subscriptions) deliver(out *writer, m *message) {
	var uri struct {
		URI string `json:"uri"`
	}
	_ = json.Unmarshal(m.Params, &uri)
	s.mu.Lock()
	var to []json.RawMessage
	for _, l := range s.open {
		if l.f.allows(m.Method, uri.URI) {
			to = append(to, l.id)
		}
	}
	s.mu.Unlock()
	for _, id := range to {
		meta := map[string]any{}
		var p struct {
			Meta map[string]any `json:"_meta"`
		}
		_ = json.Unmarshal(m.Params, &p)
		for k, v := range p.Meta {
			meta[k] = v
		}
		meta[metaSubscriptionID] = id
		params, err := withParam(m.Params, "_meta", meta)
		if err != nil {
			continue
		}
		_ = out.send(&message{JSONRPC: "2.0", Method: m.Method, Params: params})
	}
}

func (f filter) allows(method, uri string) bool {
	switch method {
	case "notifications/tools/list_changed":
		return f.ToolsListChanged
	case "notifications/prompts/list_changed":
		return f.PromptsListChanged
	case "notifications/resources/list_changed":
		return f.ResourcesListChanged
	case "notifications/resources/updated":
		return slices.Contains(f.ResourceSubscriptions, uri)
	}
	return false
}

// listenLocal serves a 2026-07-28 client's subscriptions/listen on a
// 2025-era session, until the client cancels it.
func (p *Proxy) listenLocal(ctx context.Context, c *conn, m *message) (*message, error) {
	var params struct {
		Notifications struct {
			ToolsListChanged      bool     `json:"toolsListChanged"`
			PromptsListChanged    bool     `json:"promptsListChanged"`
			ResourcesListChanged  bool     `json:"resourcesListChanged"`
			ResourceSubscriptions []string `json:"resourceSubscriptions"`
		} `json:"notifications"`
	}
	if err := json.Unmarshal(m.Params, &params); err != nil {
		return errorMsg(m.ID, codeInvalidParams, "subscriptions/listen: invalid params"), nil
	}
	n := params.Notifications
	f := c.filter(n.ToolsListChanged, n.PromptsListChanged, n.ResourcesListChanged, n.ResourceSubscriptions)
	f.ResourceSubscriptions = p.subscribeUp(ctx, f.ResourceSubscriptions, "resources/subscribe")
	p.subs.add(listen{id: m.ID, f: f})
	defer func() {
		p.subs.remove(m.ID)
		var gone []string
		for _, uri := range f.ResourceSubscriptions {
			if !p.subs.has(uri) {
				gone = append(gone, uri)
			}
		}
		p.subscribeUp(withOptions(p.ctx, callOptions{}), gone, "resources/unsubscribe")
	}()
	meta := map[string]any{metaSubscriptionID: m.ID}
	_ = p.out.send(notification("notifications/subscriptions/acknowledged", map[string]any{"notifications": f, "_meta": meta}))
	if !f.empty() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	b, _ := json.Marshal(map[string]any{"_meta": meta})
	return resultMsg(m.ID, b), nil
}

// subscribeUp sends method for each uri to the 2025-era session, and
// returns those it accepted.
func (p *Proxy) subscribeUp(ctx context.Context, uris []string, method string) []string {
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
