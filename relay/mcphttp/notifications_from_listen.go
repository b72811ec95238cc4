package mcphttp

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/relay/authhttp"
	"github.com/keyrelay/keyrelay/relay/front"
)

// A 2025-era client gets the server's list_changed notifications without
// asking, and resource updates after resources/subscribe. A 2026-07-28
// server sends them only on a subscriptions/listen stream, for the types
// asked for. For a 2025-era client the proxy keeps one open (upListen),
// asking for every list_changed the server offers and the resources the
// client subscribed to. It goes with the cached token only, like the GET
// stream of the 2025 era, and is reopened with the same backoff.

// upListen is a connection's subscriptions/listen. Safe for concurrent use.
type upListen struct {
	mu      sync.Mutex
	uris    []string
	cancel  context.CancelFunc // the running loop, if any
	started bool
	n       int
}

// subscribe adds or removes uri, and reports whether the set changed.
func (u *upListen) subscribe(uri string, on bool) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	i := slices.Index(u.uris, uri)
	switch {
	case uri == "" || on == (i >= 0):
		return false
	case on:
		u.uris = append(u.uris, uri)
	default:
		u.uris = slices.Delete(u.uris, i, i+1)
	}
	return u.started
}

func (u *upListen) stop() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.cancel != nil {
		u.cancel()
		u.cancel = nil
	}
}

// listenUp starts c's listen, once.
func (p *Upstream) listenUp(c *conn) {
	c.up.mu.Lock()
	started := c.up.started
	c.up.started = true
	c.up.mu.Unlock()
	if !started {
		p.restartListen(c)
	}
}

// restartListen (re)opens c's listen with the current subscriptions.
func (p *Upstream) restartListen(c *conn) {
	u := &c.up
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.cancel != nil {
		u.cancel()
	}
	filter := c.filter(true, true, true, u.uris)
	if filter.Empty() {
		u.cancel = nil
		return
	}
	ctx, cancel := context.WithCancel(c.tr.Context())
	u.cancel, u.n = cancel, u.n+1
	go p.listenLoop(authhttp.WithMode(ctx, authhttp.Cached), c, filter, "keyrelay-listen-"+strconv.Itoa(u.n))
}

// listenLoop holds the listen open until ctx ends.
func (p *Upstream) listenLoop(ctx context.Context, c *conn, f front.Filter, id string) {
	tr := c.tr
	for attempt := 1; ctx.Err() == nil; attempt++ {
		params, _ := json.Marshal(map[string]any{"notifications": f})
		params, err := modernParams(params, p.clientMeta())
		if err != nil {
			return
		}
		rid, _ := json.Marshal(id)
		resp, err := tr.Call(ctx, &front.Message{JSONRPC: mcp.JSONRPCVersion, ID: rid, Method: mcp.MethodSubscriptionsListen, Params: params})
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && resp.Error != nil:
			p.log.Info("the MCP server refused subscriptions/listen; no list_changed notifications", "err", front.Scrub(resp.Error.Message))
			return
		case err == nil:
			attempt = 1
		default:
			p.log.Debug("the MCP server's subscriptions/listen ended; reopening", "err", err)
		}
		var wake <-chan struct{}
		var ae *authhttp.AuthError
		if errors.As(err, &ae) {
			wake = tr.Woken()
		}
		if !tr.Wait(ctx, tr.RetryDelay(attempt), wake) {
			return
		}
	}
}

// filter is the part of the asked filter the server's capabilities offer.
func (c *conn) filter(tools, prompts, resources bool, uris []string) front.Filter {
	var caps struct {
		Tools     struct{ ListChanged bool } `json:"tools"`
		Prompts   struct{ ListChanged bool } `json:"prompts"`
		Resources struct {
			ListChanged bool `json:"listChanged"`
			Subscribe   bool `json:"subscribe"`
		} `json:"resources"`
	}
	_ = json.Unmarshal(c.caps, &caps)
	f := front.Filter{ToolsListChanged: tools && caps.Tools.ListChanged, PromptsListChanged: prompts && caps.Prompts.ListChanged,
		ResourcesListChanged: resources && caps.Resources.ListChanged}
	if caps.Resources.Subscribe && len(uris) > 0 {
		f.ResourceSubscriptions = slices.Clone(uris)
	}
	return f
}
