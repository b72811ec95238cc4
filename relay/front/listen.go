package front

import (
	"encoding/json"
	"slices"
	"sync"

	"github.com/keyrelay/keyrelay/internal/mcp"
)

// A 2026-07-28 client asks for notifications with subscriptions/listen: a
// request the server holds open, acknowledges with the notification types
// it grants, and answers only when the client cancels it; the
// notifications carry the listen's id in _meta. A 2025-era client gets
// list_changed notifications without asking, and resource updates after
// resources/subscribe. Upstreams that serve a listen themselves use
// Filter and Listens.

// Filter is the notifications member of subscriptions/listen.
type Filter struct {
	ToolsListChanged      bool     `json:"toolsListChanged,omitempty"`
	PromptsListChanged    bool     `json:"promptsListChanged,omitempty"`
	ResourcesListChanged  bool     `json:"resourcesListChanged,omitempty"`
	ResourceSubscriptions []string `json:"resourceSubscriptions,omitempty"`
}

// Empty reports whether f asks for nothing.
func (f Filter) Empty() bool {
	return !f.ToolsListChanged && !f.PromptsListChanged && !f.ResourcesListChanged && len(f.ResourceSubscriptions) == 0
}

// Allows reports whether f grants the notification method (about uri).
func (f Filter) Allows(method, uri string) bool {
	switch method {
	case mcp.MethodNotificationToolsListChanged:
		return f.ToolsListChanged
	case mcp.MethodNotificationPromptsListChanged:
		return f.PromptsListChanged
	case mcp.MethodNotificationResourcesListChanged:
		return f.ResourcesListChanged
	case mcp.MethodNotificationResourcesUpdated:
		return slices.Contains(f.ResourceSubscriptions, uri)
	}
	return false
}

// Subscribable reports whether method needs a subscription in the
// 2026-07-28 era.
func Subscribable(method string) bool {
	switch method {
	case mcp.MethodNotificationToolsListChanged, mcp.MethodNotificationPromptsListChanged,
		mcp.MethodNotificationResourcesListChanged, mcp.MethodNotificationResourcesUpdated:
		return true
	}
	return false
}

// ListenFilter reads the filter of a subscriptions/listen request.
func ListenFilter(params json.RawMessage) (Filter, error) {
	var p struct {
		Notifications Filter `json:"notifications"`
	}
	err := json.Unmarshal(params, &p)
	return p.Notifications, err
}

// Acknowledged is the notification that acknowledges the listen id with
// the types granted.
func Acknowledged(id json.RawMessage, granted Filter) *Message {
	return Notification(mcp.MethodNotificationSubscriptionsAcknowledged,
		map[string]any{"_meta": map[string]any{mcp.MetaKeySubscriptionID: id}, "notifications": granted})
}

// ListenResult is the result that ends the listen id.
func ListenResult(id json.RawMessage) json.RawMessage {
	return Object(map[string]any{"_meta": map[string]any{mcp.MetaKeySubscriptionID: id}})
}

// Listens are a client's open subscriptions/listen requests. Safe for
// concurrent use.
type Listens struct {
	mu   sync.Mutex
	open map[string]listen // by id
}

type listen struct {
	id json.RawMessage
	f  Filter
}

// Add opens the listen id with the granted filter f.
func (l *Listens) Add(id json.RawMessage, f Filter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open == nil {
		l.open = map[string]listen{}
	}
	l.open[IDKey(id)] = listen{id: id, f: f}
}

// Remove closes the listen id.
func (l *Listens) Remove(id json.RawMessage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.open, IDKey(id))
}

// Has reports whether an open listen subscribes to uri.
func (l *Listens) Has(uri string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.open {
		if slices.Contains(o.f.ResourceSubscriptions, uri) {
			return true
		}
	}
	return false
}

// Deliver sends m to c on each open listen that granted its type, with the
// listen's id in _meta.
func (l *Listens) Deliver(c Client, m *Message) {
	var p struct {
		URI  string         `json:"uri"`
		Meta map[string]any `json:"_meta"`
	}
	_ = json.Unmarshal(m.Params, &p)
	l.mu.Lock()
	var to []json.RawMessage
	for _, o := range l.open {
		if o.f.Allows(m.Method, p.URI) {
			to = append(to, o.id)
		}
	}
	l.mu.Unlock()
	for _, id := range to {
		meta := map[string]any{}
		for k, v := range p.Meta {
			meta[k] = v
		}
		meta[mcp.MetaKeySubscriptionID] = id
		params, err := WithParam(m.Params, "_meta", meta)
		if err != nil {
			continue
		}
		c.Send(&Message{JSONRPC: mcp.JSONRPCVersion, Method: m.Method, Params: params})
	}
}
