// Package setup builds the relay's parts from its configuration, for the
// relay command: the one logger, the vault, the sign-in, the broker, and
// for serve the front with its upstream (the backend's tool API, or a
// remote MCP server); for login the settings' checks, and for status the
// report. It makes no network call.
//
// Security properties: every part gets the same policy; a bad
// configuration, a refusing policy or a vault that cannot open never stops
// serve: the front answers every request with the reason. The logger
// blanks secret keys (secret.ReplaceAttr).
//
// Non-goals: parsing the command line (relay/config), and printing and
// exit codes (package main and relay/cli).
package setup

import (
	"context"
	"io"
	"log/slog"
	"net/http"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/platform"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/config"
	"github.com/keyrelay/keyrelay/relay/login"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/relay/policy"
	"github.com/keyrelay/keyrelay/vault"
)

// Parts are the relay's wired components for one command.
type Parts struct {
	Vault  *vault.Vault
	Auth   *login.Interactive
	Broker *broker.Broker
	Log    *slog.Logger
}

// Logger is the one logger, on w (stderr), at level (default info), with
// the secret ReplaceAttr safety net. Its form depends on who reads w:
//
//   - w is not a terminal (Claude Code, CI, a file): text records,
//     time=… level=… msg=…, as slog's text handler writes them;
//   - w is a terminal and level is info (the default), warn or error: a
//     person reads it, between the commands' own lines (the sign-in URL,
//     "relay: signed in as …"). Info records are dropped, and a warning
//     or an error is one line in those lines' style:
//     "relay: warning: MSG (k=v …)", without time, level or component;
//   - w is a terminal and level is debug (RELAY_LOG_LEVEL=debug): every
//     record, as text records, as for a file.
func Logger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	if h := personHandler(w, l); h != nil {
		return slog.New(h)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: secret.ReplaceAttr}))
}

// Open builds the parts under the policy pol (nil: none). prompt is the
// terminal passphrase prompt, nil in serve mode.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger, pol *policy.Policy, prompt func(context.Context, string) (secret.Value, error)) (*Parts, error) {
	v, err := vault.Open(ctx, vault.Options{Dir: cfg.DataDir, KeySpec: cfg.VaultKey, PassphraseFile: cfg.PassphraseFile,
		RequireKeychain: pol.RequireKeychain(), Prompt: prompt, Logger: log.With("component", "vault")})
	if err != nil {
		return nil, err
	}
	p := &Parts{Vault: v, Log: log}
	p.Auth = &login.Interactive{
		Issuer: cfg.AuthServerURL, Backend: cfg.Server(),
		Client: oauth.Client{ClientID: cfg.ClientID, Resource: cfg.Resource, ExtraAuthParams: cfg.AuthorizeParam,
			HTTP:   oauth.PublicOnly(&http.Client{Timeout: cfg.AuthTimeout}, cfg.Server(), pol.NamesAuthServer),
			Logger: log.With("component", "oauth"), DPoPMode: cfg.DPoPMode(pol)},
		ClientMetadataURL: cfg.ClientMetaURL, ClientSecret: cfg.ClientSecret, Registry: v,
		ClientKey: cfg.ClientKey, ClientCredentials: cfg.ClientCreds,
		Port: cfg.CallbackPort, CallbackHost: cfg.CallbackHost, CallbackPath: cfg.CallbackPath,
		Timeout: cfg.LoginTimeout, Open: platform.OpenBrowser,
		Logger: log.With("component", "login"), Policy: pol, AssumePKCE: cfg.AssumedPKCE(pol),
		ResourceScopes: cfg.MCPURL != "",
	}
	if cfg.IdPIssuer != "" {
		p.Auth.CrossApp = &login.CrossApp{Issuer: cfg.IdPIssuer, ClientID: cfg.IdPClientID, IDTokenFile: cfg.IdPTokenFile,
			ReadFile: platform.ReadSecretFile,
			HTTP:     oauth.PublicOnly(&http.Client{Timeout: cfg.AuthTimeout}, cfg.IdPIssuer, pol.NamesAuthServer)}
	}
	p.Broker = &broker.Broker{Resolve: p.Auth.Account, Store: v, Auth: p.Auth, Scopes: cfg.Scopes,
		MaxLifetime: pol.MaxTokenLifetime(), MaxSession: pol.MaxSession(), Logger: log.With("component", "broker")}
	return p, nil
}

// Issuer is the authorization server the sign-in of this configuration
// uses, as it may be printed, once it is known without a network call
// (configured, or found through the backend by a read of the stored
// tokens: status.Sources.Issuer); else "".
func (p *Parts) Issuer(ctx context.Context) string {
	if !p.Auth.Resolved() {
		return ""
	}
	a, err := p.Auth.Account(ctx)
	if err != nil {
		return ""
	}
	return config.RedactURL(a.Issuer)
}
