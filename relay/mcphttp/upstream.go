package mcphttp

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/relay/authhttp"
	"github.com/keyrelay/keyrelay/relay/front"
	"github.com/keyrelay/keyrelay/relay/mcphttp/transport"
)

// Config wires an Upstream.
type Config struct {
	// URL is the MCP server's endpoint, canonical.
	URL string
	// Transport is transport.Auto (or ""), StreamableHTTP or SSE.
	Transport string
	// Headers are sent with every request to URL (RELAY_HEADERS).
	Headers []transport.Header
	// IgnoreTools are tool name patterns (RELAY_IGNORE_TOOLS): such tools
	// are left out of tools/list and their calls refused (toolfilter.go).
	IgnoreTools []string
	// Tokens, Resolved and Hint feed the auth layer (authhttp.Transport).
	Tokens   authhttp.Tokens
	Resolved func() bool
	Hint     func(resourceMetadata string)
	// Timeout bounds the wait for the server's response headers; default
	// 60 s. Streams are not bounded.
	Timeout time.Duration
	// ConnectTimeout bounds connecting, sign-in included; default 6 min.
	ConnectTimeout time.Duration
	// PingInterval, if set, pings a 2025-era session that often
	// (RELAY_PING_INTERVAL, keepalive.go).
	PingInterval time.Duration
	// StartWait is how long initialize and server/discover wait for the
	// server's real capabilities when a token is cached; default 2 s.
	StartWait time.Duration
	Version   string
	Logger    *slog.Logger
	// Base is the HTTP transport under the custom headers and the auth
	// layer; default a clone of http.DefaultTransport.
	Base http.RoundTripper
}

// Upstream is the relay's client of one remote MCP server, for one client
// session. It is safe for concurrent use.
type Upstream struct {
	cfg     Config
	log     *slog.Logger
	http    *http.Client // guard, auth layer, headers and caps
	guard   *transport.Guard
	base    http.RoundTripper // under the headers and the auth layer
	client  front.Client
	ctx     context.Context // the session's lifetime
	cancel  context.CancelFunc
	conns   connState
	states  *stateStore   // input_required states of the relay's (requests_to_input.go)
	trips   roundTrips    // a 2026-07-28 client's requests held at a 2025-era server
	listens front.Listens // a 2026-07-28 client's subscriptions/listen at a 2025-era server
	params  paramHeaders  // Mcp-Param-* headers of the tools (2026-07-28 server)
	tools   toolFilter    // RELAY_IGNORE_TOOLS
	seq     atomic.Int64  // ids of the relay's own requests
	wg      sync.WaitGroup

	mu        sync.Mutex
	fallback  bool   // start-up was answered without the server's capabilities
	levelSent string // the log level last set at a 2025-era server
}

var _ front.Upstream = (*Upstream)(nil)

// New builds the upstream for client c; ctx is the session's lifetime. It
// makes no network call.
func New(ctx context.Context, cfg Config, c front.Client) (*Upstream, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Timeout = orDur(cfg.Timeout, 60*time.Second)
	cfg.ConnectTimeout = orDur(cfg.ConnectTimeout, 6*time.Minute)
	cfg.StartWait = orDur(cfg.StartWait, 2*time.Second)
	if _, err := transport.Choice(cfg.Transport); err != nil {
		return nil, err
	}
	target, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, err
	}
	base := cfg.Base
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = cfg.Timeout
		t.MaxConnsPerHost = maxConns // a hostile server cannot exhaust the relay's file descriptors (P2)
		base = t
	}
	auth := &authhttp.Transport{Base: &transport.Headers{Base: base, List: cfg.Headers}, Tokens: cfg.Tokens,
		Resolved: cfg.Resolved, Hint: cfg.Hint, Peer: "MCP server", Logger: cfg.Logger}
	guard := &transport.Guard{Next: auth, Target: target}
	ctx, cancel := context.WithCancel(ctx)
	u := &Upstream{cfg: cfg, log: cfg.Logger, client: c, ctx: ctx, cancel: cancel, guard: guard, base: base,
		states: newStateStore(), tools: newToolFilter(cfg.IgnoreTools)}
	u.http = &http.Client{Transport: guard, Jar: transport.NewCookieJar(target), CheckRedirect: noRedirect}
	return u, nil
}

// maxConns bounds the connections to the MCP server: the client's requests
// in flight, the GET stream, the answers to the server's requests.
const maxConns = 64

func orDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Close implements front.Upstream: it abandons the requests waiting for
// input, waits for the relay's own requests, ends the server's session,
// and closes the idle connections.
func (u *Upstream) Close() {
	u.cancel()
	u.states.close()
	u.wg.Wait()
	u.conns.close()
	if c, ok := u.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Notify implements front.Upstream: a client notification goes to the
// live 2025-era session. notifications/initialized is the relay's own
// business upstream.
func (u *Upstream) Notify(_ context.Context, m *front.Message) {
	if m.Method == mcp.MethodNotificationInitialized {
		return
	}
	u.sendUp(m)
}

// setFallback records whether start-up was answered without the server's
// capabilities; takeFallback reports it once.
func (u *Upstream) setFallback(b bool) {
	u.mu.Lock()
	u.fallback = b
	u.mu.Unlock()
}

func (u *Upstream) takeFallback() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	f := u.fallback
	u.fallback = false
	return f
}

// levelChange returns level if it differs from the one last set at the
// server, and records it.
func (u *Upstream) levelChange(level string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if level == "" || level == u.levelSent {
		return ""
	}
	u.levelSent = level
	return level
}
