package setup

import (
	"context"
	"errors"
	"log/slog"

	"github.com/keyrelay/keyrelay/platform"
	"github.com/keyrelay/keyrelay/relay/config"
	"github.com/keyrelay/keyrelay/relay/front"
	"github.com/keyrelay/keyrelay/relay/mcphttp"
	"github.com/keyrelay/keyrelay/relay/mcphttp/transport"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/relay/toolapi"
)

// Front is the front's configuration for serve. The policy, the vault and
// the upstream are wired on the first request that needs them; in backend
// mode the handshake is answered without them. getenv reads the process
// environment (a browser can be shown?).
func Front(ctx context.Context, cfg *config.Config, getenv func(string) string, log *slog.Logger, version string) front.Config {
	fc := front.Config{Version: version, Logger: log.With("component", "front"),
		Wire: func(sctx context.Context, c front.Client) (front.Upstream, error) {
			p, err := serving(ctx, cfg, getenv, log)
			if err != nil {
				return nil, err
			}
			return p.upstream(sctx, cfg, c, version)
		}}
	if cfg.MCPURL == "" {
		fc.Describe = toolapi.Description
	}
	return fc
}

// serving wires the parts of the stdio server. A bad configuration,
// policy or vault is returned as the error that requests will report: the
// server goes on.
func serving(ctx context.Context, cfg *config.Config, getenv func(string) string, log *slog.Logger) (*Parts, error) {
	pol, polErr := cfg.LoadPolicy()
	if err := cfg.Check(); err != nil {
		log.Error("bad configuration; tool calls will report it", "err", err)
		return nil, err
	}
	if err := errors.Join(polErr, cfg.CheckPolicy(pol)); err != nil {
		log.Error("the administrator's policy refuses this configuration; tool calls will report it", "err", err)
		return nil, err
	}
	p, err := Open(ctx, cfg, log, pol, nil)
	if err != nil {
		log.Error("cannot open the vault; tool calls will report it", "err", err)
		return nil, err
	}
	p.Auth.NoBrowser = !platform.BrowserAvailable(getenv)
	// With no browser, a sign-in finishes after the tool call that
	// began it has returned the URL: keep its tokens then.
	p.Auth.Deliver = func(t *oauth.Tokens) {
		if err := p.Broker.Adopt(context.WithoutCancel(ctx), t); err != nil {
			log.Error("could not store the tokens of a completed sign-in", "err", err)
		}
	}
	return p, nil
}

// upstream is the backend's tool API, or the remote MCP server.
func (p *Parts) upstream(ctx context.Context, cfg *config.Config, c front.Client, version string) (front.Upstream, error) {
	if cfg.MCPURL == "" {
		return toolapi.New(toolapi.Config{BackendURL: cfg.BackendURL, Timeout: cfg.BackendTimeout, Tokens: p.Broker,
			Resolved: p.Auth.Resolved, Hint: p.Auth.Hint, Logger: p.Log.With("component", "toolapi")}, c), nil
	}
	headers := make([]transport.Header, 0, len(cfg.Headers))
	for _, h := range cfg.Headers {
		headers = append(headers, transport.Header{Name: h.Name, Value: h.Value})
	}
	return mcphttp.New(ctx, mcphttp.Config{URL: cfg.MCPURL, Transport: cfg.MCPTransport, Headers: headers, IgnoreTools: cfg.IgnoreTools,
		Tokens: p.Broker, Resolved: p.Auth.Resolved, Hint: p.Auth.Hint, Timeout: cfg.BackendTimeout,
		ConnectTimeout: cfg.LoginTimeout + cfg.BackendTimeout, PingInterval: cfg.PingInterval, Version: version,
		Logger: p.Log.With("component", "mcphttp")}, c)
}
