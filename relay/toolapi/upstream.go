package toolapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/relay/authhttp"
	"github.com/keyrelay/keyrelay/relay/front"
)

// Config wires an Upstream.
type Config struct {
	// BackendURL is the backend's base URL.
	BackendURL string
	// Timeout bounds one exchange with the backend (not a sign-in);
	// default 60 s.
	Timeout time.Duration
	// Tokens, Resolved and Hint feed the auth layer (authhttp.Transport).
	Tokens   authhttp.Tokens
	Resolved func() bool
	Hint     func(resourceMetadata string)
	// Base is the transport under the auth layer; default BaseTransport.
	Base http.RoundTripper
	// ListTTL is how long a tool list is used; default 30 s.
	ListTTL time.Duration
	Now     func() time.Time
	Logger  *slog.Logger
}

// Upstream serves the MCP tool methods from the backend's tool API. It is
// safe for concurrent use.
type Upstream struct {
	cfg     Config
	api     *Client
	client  front.Client
	listens front.Listens

	// reg serialises changes to the registered tool set (install and
	// placeholder), so a slow registration never overwrites a newer one.
	reg sync.Mutex

	mu      sync.Mutex
	tools   map[string]entry
	names   string // sorted names of the registered tools, joined
	fetched time.Time
}

var _ front.Upstream = (*Upstream)(nil)

// New builds the upstream for client c. It makes no network call.
func New(cfg Config, c front.Client) *Upstream {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.ListTTL <= 0 {
		cfg.ListTTL = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Base == nil {
		cfg.Base = BaseTransport(cfg.Timeout)
	}
	auth := &authhttp.Transport{Base: cfg.Base, Tokens: cfg.Tokens, Resolved: cfg.Resolved, Hint: cfg.Hint,
		Peer: "backend", Logger: cfg.Logger}
	return &Upstream{cfg: cfg, api: NewClient(cfg.BackendURL, cfg.Timeout, auth), client: c, tools: map[string]entry{}}
}

const instructions = "keyrelay forwards these tools to an OAuth-protected backend. " +
	"When a tool needs a sign-in, a browser opens; if it cannot, the tool result contains the URL to open."

// Description is what the backend's tool API offers, known without any
// network call: tools, with list_changed, and log messages.
func Description() front.Description {
	return front.Description{Capabilities: json.RawMessage(`{"logging":{},"tools":{"listChanged":true}}`), Instructions: instructions}
}

// Describe implements front.Upstream.
func (u *Upstream) Describe(context.Context) front.Description { return Description() }

// unsupported are the MCP methods the tool API does not serve, with the
// capability they belong to; removed marks those the 2026-07-28 revision
// dropped.
var unsupported = map[string]struct {
	capability string
	removed    bool
}{
	mcp.MethodResourcesList:          {"resources", false},
	mcp.MethodResourcesTemplatesList: {"resources", false},
	mcp.MethodResourcesRead:          {"resources", false},
	mcp.MethodResourcesSubscribe:     {"resources", true},
	mcp.MethodResourcesUnsubscribe:   {"resources", true},
	mcp.MethodPromptsList:            {"prompts", false},
	mcp.MethodPromptsGet:             {"prompts", false},
	mcp.MethodTasksGet:               {"tasks", false},
	mcp.MethodTasksList:              {"tasks", true},
	mcp.MethodTasksResult:            {"tasks", true},
	mcp.MethodTasksCancel:            {"tasks", false},
	mcp.MethodCompletionComplete:     {"completions", false},
}

// Request implements front.Upstream.
func (u *Upstream) Request(ctx context.Context, r *front.Call) (*front.Message, error) {
	if un, ok := unsupported[r.Method]; ok {
		if un.removed && r.Era.Modern {
			return front.Removed(&front.Message{ID: r.ID, Method: r.Method}), nil
		}
		return front.Fail(r.ID, mcp.CodeMethodNotFound, un.capability+" not supported"), nil
	}
	switch r.Method {
	case mcp.MethodToolsList:
		return u.listTools(ctx, r)
	case mcp.MethodToolsCall:
		return u.callTool(ctx, r)
	case mcp.MethodSetLevel:
		return front.Result(r.ID, json.RawMessage(`{}`)), nil // the front keeps the level
	case mcp.MethodSubscriptionsListen:
		return u.listen(ctx, r)
	}
	return front.MethodNotFound(&front.Message{ID: r.ID, Method: r.Method}), nil
}

// Notify implements front.Upstream: the tool API takes no notifications.
func (u *Upstream) Notify(context.Context, *front.Message) {}

// Close implements front.Upstream: the tool API holds no session; the
// idle connections to the backend are closed.
func (u *Upstream) Close() { closeIdle(u.cfg.Base) }

// closeIdle closes rt's idle connections, if it keeps any.
func closeIdle(rt http.RoundTripper) {
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// listen serves subscriptions/listen (2026-07-28): it acknowledges the one
// subscription the tool API can keep (tools list_changed) and holds the
// request open while there is one.
func (u *Upstream) listen(ctx context.Context, r *front.Call) (*front.Message, error) {
	asked, err := front.ListenFilter(r.Params)
	if err != nil {
		return front.Fail(r.ID, mcp.CodeInvalidParams, "subscriptions/listen: invalid params"), nil
	}
	granted := front.Filter{ToolsListChanged: asked.ToolsListChanged}
	u.client.Send(front.Acknowledged(r.ID, granted))
	if granted.Empty() {
		return front.Result(r.ID, front.ListenResult(r.ID)), nil
	}
	u.listens.Add(r.ID, granted)
	defer u.listens.Remove(r.ID)
	<-ctx.Done()
	return nil, ctx.Err()
}

// listChanged tells the client that the tool list changed: a 2025-era
// client at once, a 2026-07-28 client on its open listens.
func (u *Upstream) listChanged() {
	n := front.Notification(mcp.MethodNotificationToolsListChanged, nil)
	if u.client.State().Modern {
		u.listens.Deliver(u.client, n)
		return
	}
	u.client.Send(n)
}

// warn sends an MCP log message about the request ctx serves, best
// effort.
func (u *Upstream) warn(ctx context.Context, msg string) {
	u.client.Notify(ctx, mcp.MethodNotificationMessage, map[string]any{"level": mcp.LoggingLevelWarning, "logger": "keyrelay", "data": msg})
}
