package proxy

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyrelay/keyrelay/relay/config"
	"github.com/keyrelay/keyrelay/relay/signin"
)

// Config wires a Proxy.
type Config struct {
	// URL is the MCP server's endpoint, canonical.
	URL string
	// Transport is TransportAuto (or ""), TransportStreamable or
	// TransportSSE (transport.go).
	Transport string
	// Headers are sent with every request to URL (RELAY_HEADERS).
	Headers []config.Header
	// IgnoreTools are tool name patterns (RELAY_IGNORE_TOOLS): such tools
	// are left out of tools/list and their calls refused (toolfilter.go).
	IgnoreTools []string
	// Tokens is the broker; nil when ConfigErr is set.
	Tokens Tokens
	// ConfigErr, when set, is answered to every request.
	ConfigErr error
	// Resolved and Hint (login.Interactive's) let the first request go
	// without a token while the authorization server is unknown, so that
	// the 401 names the protected resource metadata. Nil: not needed.
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
	// Base is the HTTP transport under the auth layer; default a clone of
	// http.DefaultTransport.
	Base http.RoundTripper
}

// Proxy is one stdio session in front of the MCP server.
type Proxy struct {
	cfg    Config
	log    *slog.Logger
	http   *http.Client
	out    *writer
	ctx    context.Context // the session's lifetime
	client clientState
	conns  connState
	calls  pendingCalls   // client requests in flight upstream
	asks   pendingAsks    // server requests in flight at the client
	states *stateStore    // input_required states of the proxy's (mrtr.go)
	trips  roundTrips     // a 2026-07-28 client's requests held at a 2025-era server
	subs   subscriptions  // a 2026-07-28 client's subscriptions/listen at a 2025-era server
	params paramHeaders   // Mcp-Param-* headers of the tools (2026-07-28 server)
	tools  toolFilter     // RELAY_IGNORE_TOOLS
	seq    atomic.Int64   // ids of the proxy's own requests
	wg     sync.WaitGroup // request goroutines
}

// New builds the proxy. It makes no network call.
func New(cfg Config) (*Proxy, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Timeout = orDur(cfg.Timeout, 60*time.Second)
	cfg.ConnectTimeout = orDur(cfg.ConnectTimeout, 6*time.Minute)
	cfg.StartWait = orDur(cfg.StartWait, 2*time.Second)
	p := &Proxy{cfg: cfg, log: cfg.Logger, states: newStateStore(), tools: newToolFilter(cfg.IgnoreTools)}
	if cfg.ConfigErr != nil {
		return p, nil
	}
	target, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, err
	}
	base := cfg.Base
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = cfg.Timeout
		base = t
	}
	at := &authTransport{base: base, target: target, tokens: cfg.Tokens, resolved: cfg.Resolved, hint: cfg.Hint,
		headers: cfg.Headers, log: cfg.Logger, now: time.Now}
	p.http = &http.Client{Transport: at, Jar: newCookieJar(target),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return p, nil
}

func orDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Serve runs the stdio protocol on in and out until in ends or ctx ends.
func (p *Proxy) Serve(ctx context.Context, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	p.ctx, p.out = ctx, &writer{w: out}
	defer func() {
		cancel()
		p.states.close()
		p.wg.Wait()
		p.conns.close()
	}()
	// The reading goroutine hands lines over one at a time, so a signal
	// (ctx) ends Serve even while the client keeps stdin open; that
	// goroutine then ends when in does, or with the process.
	sc := scanLines(in, MaxMessage)
	lines := make(chan []byte)
	go func() {
		defer close(lines)
		for sc.Scan() {
			select {
			case lines <- append([]byte(nil), sc.Bytes()...):
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return scanErr(sc)
			}
			p.receive(line)
		}
	}
}

// receive handles one line from the client.
func (p *Proxy) receive(line []byte) {
	var m message
	if err := json.Unmarshal(line, &m); err != nil || m.JSONRPC != "2.0" {
		if len(line) > 0 {
			_ = p.out.send(errorMsg(nil, codeParse, "not a JSON-RPC 2.0 message"))
		}
		return
	}
	switch {
	case m.isRequest():
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.request(&m) }()
	case m.isNotification():
		p.clientNotification(&m)
	case m.isResponse():
		p.asks.answer(&m)
	default:
		_ = p.out.send(errorMsg(m.ID, codeInvalidRequest, "invalid JSON-RPC message"))
	}
}

// request answers one client request, locally or from the server.
func (p *Proxy) request(m *message) {
	switch m.Method {
	case "initialize":
		p.initialize(m)
	case "server/discover":
		p.discover(m)
	case "ping":
		_ = p.out.send(resultMsg(m.ID, json.RawMessage(`{}`)))
	default:
		p.forward(m)
	}
}

// notify sends a notification to the client, best effort.
func (p *Proxy) notify(_ context.Context, method string, params map[string]any) {
	_ = p.out.send(notification(method, params))
}

var _ signin.Notify = (*Proxy)(nil).notify
