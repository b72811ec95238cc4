package main

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/keyrelay/keyrelay/platform"
	"github.com/keyrelay/keyrelay/relay/config"
	"github.com/keyrelay/keyrelay/relay/front"
	"github.com/keyrelay/keyrelay/relay/mcphttp"
	"github.com/keyrelay/keyrelay/relay/mcphttp/transport"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/relay/toolapi"
)

// cmdServe runs the MCP stdio server. The policy, the vault and the
// upstream are wired on the first request that needs them; in backend
// mode the handshake is answered without them.
func cmdServe(ctx context.Context, args []string, e env, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := parseCmd("serve", args, e, stderr, nil)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	fc := front.Config{Version: version, Logger: log.With("component", "front"),
		Wire: func(sctx context.Context, c front.Client) (front.Upstream, error) {
			p, err := serveParts(ctx, cfg, e, log)
			if err != nil {
				return nil, err
			}
			return newUpstream(sctx, cfg, p, c)
		}}
	if cfg.MCPURL == "" {
		fc.Describe = toolapi.Description
	}
	log.Info("relay serving on stdio", "version", version, "server", cfg.Server(), "auth_server", cfg.AuthServerURL, "headers", len(cfg.Headers))
	return front.New(fc).Serve(ctx, stdin, stdout)
}

// serveParts wires the parts of the stdio server. A bad configuration,
// policy or vault is returned as the error that requests will report: the
// server starts anyway.
func serveParts(ctx context.Context, cfg *config.Config, e env, log *slog.Logger) (*parts, error) {
	pol, polErr := loadPolicy(cfg)
	if err := cfg.Check(); err != nil {
		log.Error("bad configuration; tool calls will report it", "err", err)
		return nil, err
	}
	if err := errors.Join(polErr, checkPolicy(cfg, pol)); err != nil {
		log.Error("the administrator's policy refuses this configuration; tool calls will report it", "err", err)
		return nil, err
	}
	p, err := wire(ctx, cfg, log, pol, nil)
	if err != nil {
		log.Error("cannot open the vault; tool calls will report it", "err", err)
		return nil, err
	}
	p.auth.NoBrowser = !platform.BrowserAvailable(e.get)
	// With no browser, a sign-in finishes after the tool call that
	// began it has returned the URL: keep its tokens then.
	p.auth.Deliver = func(t *oauth.Tokens) {
		if err := p.broker.Adopt(context.WithoutCancel(ctx), t); err != nil {
			log.Error("could not store the tokens of a completed sign-in", "err", err)
		}
	}
	return p, nil
}

// newUpstream is the backend's tool API, or the remote MCP server.
func newUpstream(ctx context.Context, cfg *config.Config, p *parts, c front.Client) (front.Upstream, error) {
	if cfg.MCPURL == "" {
		return toolapi.New(toolapi.Config{BackendURL: cfg.BackendURL, Timeout: cfg.BackendTimeout, Tokens: p.broker,
			Resolved: p.auth.Resolved, Hint: p.auth.Hint, Logger: p.log.With("component", "toolapi")}, c), nil
	}
	headers := make([]transport.Header, 0, len(cfg.Headers))
	for _, h := range cfg.Headers {
		headers = append(headers, transport.Header{Name: h.Name, Value: h.Value})
	}
	return mcphttp.New(ctx, mcphttp.Config{URL: cfg.MCPURL, Transport: cfg.MCPTransport, Headers: headers, IgnoreTools: cfg.IgnoreTools,
		Tokens: p.broker, Resolved: p.auth.Resolved, Hint: p.auth.Hint, Timeout: cfg.BackendTimeout,
		ConnectTimeout: cfg.LoginTimeout + cfg.BackendTimeout, PingInterval: cfg.PingInterval, Version: version,
		Logger: p.log.With("component", "mcphttp")}, c)
}
