package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/platform"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/config"
	"github.com/keyrelay/keyrelay/relay/forward"
	"github.com/keyrelay/keyrelay/relay/login"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/relay/policy"
	"github.com/keyrelay/keyrelay/vault"
)

// parts are the relay's wired components for one command.
type parts struct {
	vault  *vault.Vault
	auth   *login.Interactive
	broker *broker.Broker
	fwd    *forward.Client
}

// parseCmd parses the shared settings plus a command's own flags; a bad
// command line is a usage error.
func parseCmd(name string, args []string, e env, stderr io.Writer, own func(*flag.FlagSet)) (*config.Config, error) {
	cfg, err := config.ParseCommand(name, args, e.get, stderr, own)
	return cfg, usage(err)
}

// newLogger builds the one logger: text to stderr, with the secret
// ReplaceAttr safety net.
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: secret.ReplaceAttr}))
}

// wire builds the parts under the policy pol (nil: none). It makes no
// network call. prompt is the terminal passphrase prompt, nil in serve mode.
func wire(ctx context.Context, cfg *config.Config, log *slog.Logger, pol *policy.Policy, prompt func(context.Context, string) (secret.Value, error)) (*parts, error) {
	v, err := vault.Open(ctx, vault.Options{Dir: cfg.DataDir, KeySpec: cfg.VaultKey, PassphraseFile: cfg.PassphraseFile,
		RequireKeychain: pol.RequireKeychain(), Prompt: prompt, Logger: log.With("component", "vault")})
	if err != nil {
		return nil, err
	}
	p := &parts{vault: v}
	p.auth = &login.Interactive{
		Issuer: cfg.AuthServerURL, Backend: cfg.Server(),
		Client: oauth.Client{ClientID: cfg.ClientID, Resource: cfg.Resource, ExtraAuthParams: cfg.AuthorizeParam,
			HTTP: &http.Client{Timeout: cfg.AuthTimeout}, Logger: log.With("component", "oauth")},
		ClientMetadataURL: cfg.ClientMetaURL, ClientSecret: cfg.ClientSecret, Registry: v,
		Port: cfg.CallbackPort, CallbackHost: cfg.CallbackHost, CallbackPath: cfg.CallbackPath,
		Timeout: cfg.LoginTimeout, Open: platform.OpenBrowser,
		Logger: log.With("component", "login"), Policy: pol,
	}
	p.broker = &broker.Broker{Resolve: p.auth.Account, Store: v, Auth: p.auth, Scopes: cfg.Scopes,
		MaxLifetime: pol.MaxTokenLifetime(), MaxSession: pol.MaxSession(), Logger: log.With("component", "broker")}
	p.fwd = forward.New(cfg.BackendURL, cfg.BackendTimeout)
	return p, nil
}
