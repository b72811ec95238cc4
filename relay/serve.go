package main

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/keyrelay/keyrelay/platform"
	"github.com/keyrelay/keyrelay/relay/config"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/relay/proxy"
	"github.com/keyrelay/keyrelay/relay/serve"
)

func cmdServe(ctx context.Context, args []string, e env, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := parseCmd("serve", args, e, stderr, nil)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	if cfg.MCPURL != "" {
		p, cfgErr := serveParts(ctx, cfg, e, log)
		return serveProxy(ctx, cfg, p, cfgErr, log, stdin, stdout)
	}
	// The policy, the vault and the rest are wired on the first request
	// that needs them: initialize and server/discover are answered without.
	sc := serve.Config{Version: version, Logger: log.With("component", "serve"), Wire: func(sc *serve.Config) {
		p, cfgErr := serveParts(ctx, cfg, e, log)
		sc.ConfigErr = cfgErr
		if cfgErr == nil {
			sc.Backend, sc.Broker = p.fwd, p.broker
			sc.Resolved, sc.Hint = p.auth.Resolved, p.auth.Hint
		}
	}}
	log.Info("relay serving on stdio", "version", version, "backend", cfg.BackendURL, "auth_server", cfg.AuthServerURL)
	return serve.New(sc).Serve(ctx, stdin, stdout)
}

// serveParts wires the parts of the stdio server. A bad configuration,
// policy or vault is returned as the error that requests will report: the
// server starts anyway.
func serveParts(ctx context.Context, cfg *config.Config, e env, log *slog.Logger) (*parts, error) {
	pol, polErr := cfg.LoadPolicy()
	if err := cfg.Check(); err != nil {
		log.Error("bad configuration; tool calls will report it", "err", err)
		return nil, err
	}
	if err := errors.Join(polErr, cfg.CheckPolicy(pol)); err != nil {
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

// serveProxy runs the stdio server in front of a remote MCP server.
func serveProxy(ctx context.Context, cfg *config.Config, p *parts, cfgErr error, log *slog.Logger, stdin io.Reader, stdout io.Writer) error {
	pc := proxy.Config{URL: cfg.MCPURL, Transport: cfg.MCPTransport, Headers: cfg.Headers, IgnoreTools: cfg.IgnoreTools, PingInterval: cfg.PingInterval, ConfigErr: cfgErr, Timeout: cfg.BackendTimeout,
		ConnectTimeout: cfg.LoginTimeout + cfg.BackendTimeout, Version: version, Logger: log.With("component", "proxy")}
	if cfgErr == nil {
		pc.Tokens, pc.Resolved, pc.Hint = p.broker, p.auth.Resolved, p.auth.Hint
	}
	px, err := proxy.New(pc)
	if err != nil {
		return err
	}
	log.Info("relay serving on stdio in front of an MCP server", "version", version, "mcp_url", cfg.MCPURL,
		"auth_server", cfg.AuthServerURL, "headers", len(cfg.Headers))
	return px.Serve(ctx, stdin, stdout)
}
