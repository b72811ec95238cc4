package proxy

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
)

// pendingCalls are the client's requests in flight at the server, by id,
// so that notifications/cancelled can reach them.
type pendingCalls struct {
	mu        sync.Mutex
	cancel    map[string]context.CancelFunc
	cancelled map[string]bool
}

// start registers id; done unregisters it and reports whether the client
// cancelled it (then no response is sent).
func (c *pendingCalls) start(ctx context.Context, id json.RawMessage) (context.Context, func() bool) {
	ctx, cancel := context.WithCancel(ctx)
	k := idKey(id)
	c.mu.Lock()
	if c.cancel == nil {
		c.cancel, c.cancelled = map[string]context.CancelFunc{}, map[string]bool{}
	}
	c.cancel[k] = cancel
	c.mu.Unlock()
	return ctx, func() bool {
		cancel()
		c.mu.Lock()
		defer c.mu.Unlock()
		was := c.cancelled[k]
		delete(c.cancel, k)
		delete(c.cancelled, k)
		return was
	}
}

// isPending reports whether id is in flight.
func (c *pendingCalls) isPending(id json.RawMessage) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cancel[idKey(id)] != nil
}

// stop cancels id's context.
func (c *pendingCalls) stop(id json.RawMessage) {
	k := idKey(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.cancel[k]; f != nil {
		c.cancelled[k] = true
		f()
	}
}

// pendingAsks are the server's requests waiting for the client's answer,
// under ids of the proxy's own ("keyrelay-N"), so that they never collide
// whatever ids the server (or a new session) uses.
type pendingAsks struct {
	mu   sync.Mutex
	next int64
	wait map[string]chan *message
}

func (a *pendingAsks) open() (json.RawMessage, chan *message) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.next++
	id, _ := json.Marshal("keyrelay-" + strconv.FormatInt(a.next, 10))
	ch := make(chan *message, 1)
	if a.wait == nil {
		a.wait = map[string]chan *message{}
	}
	a.wait[idKey(id)] = ch
	return id, ch
}

func (a *pendingAsks) close(id json.RawMessage) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.wait, idKey(id))
}

// answer delivers the client's response; unknown ids are dropped.
func (a *pendingAsks) answer(m *message) {
	a.mu.Lock()
	ch := a.wait[idKey(m.ID)]
	delete(a.wait, idKey(m.ID))
	a.mu.Unlock()
	if ch != nil {
		ch <- m
	}
}
