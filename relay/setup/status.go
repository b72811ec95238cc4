package setup

import (
	"context"
	"io"

	"github.com/keyrelay/keyrelay/platform"
	"github.com/keyrelay/keyrelay/relay/config"
	"github.com/keyrelay/keyrelay/relay/signin"
	"github.com/keyrelay/keyrelay/relay/status"
	"github.com/keyrelay/keyrelay/vault"
)

// Status builds `relay status`'s report for cfg, whatever is wrong:
// cfgErr is why the settings or the policy refuse (the report says it
// too), openErr why the vault could not be opened. It asks no server; it
// may wait for another relay's hold on the vault, and says so on stderr.
func Status(ctx context.Context, cfg *config.Config, stderr io.Writer) (r status.Report, cfgErr, openErr error) {
	// As configured, before Check; printable.
	src := status.Sources{AuthServer: config.RedactURL(cfg.AuthServerURL), Backend: config.RedactURL(cfg.Server())}
	if cfg.ClientCreds {
		src.ClientCredentials = cfg.ClientID
	}
	pol, cfgErr := cfg.LoadPolicy()
	if cfgErr == nil {
		src.Policy, cfgErr = pol.Summary(), cfg.Check()
	}
	if cfgErr == nil { // the policy checks URLs that Check accepted
		cfgErr = cfg.CheckPolicy(pol)
		for _, a := range cfg.AssumedPKCE(pol) {
			src.PKCE = append(src.PKCE, status.Assumption(a))
		}
	}
	src.ConfigErr = cfgErr
	p, openErr := Open(ctx, cfg, Logger(stderr, cfg.LogLevel), pol, nil)
	if openErr != nil {
		src.Vault = unopened{cfg.DataDir, openErr}
	} else {
		term := signin.Terminal{W: stderr}
		src.Vault, src.Tokens, src.Issuer = p.Vault, p.Broker, p.Issuer
		src.Waiting = func() func() { return term.Waiting("relay: waiting for the vault: another relay may be signing in...") }
		if cfg.IdPIssuer != "" {
			src.IdP = func(ctx context.Context) *status.IdP { return idpStatus(ctx, p) }
		}
	}
	return status.Build(ctx, src), cfgErr, openErr
}

// idpStatus is the identity provider session of cross-app access, for
// the status report.
func idpStatus(ctx context.Context, p *Parts) *status.IdP {
	s, err := p.Auth.Session(ctx)
	if s == nil {
		return nil
	}
	out := &status.IdP{Issuer: config.RedactURL(s.Issuer), ClientID: s.ClientID, Source: s.Source,
		SignedIn: s.Held, Subject: s.Subject, Expiry: s.Expiry}
	if err != nil {
		out.Problem = err.Error()
	}
	return out
}

// unopened is a vault that could not be opened, for the status report.
type unopened struct {
	dir string // RELAY_DATA_DIR; "" is the OS default
	err error
}

func (u unopened) Status(context.Context) vault.Status {
	if u.dir == "" {
		u.dir, _ = platform.DataDir()
	}
	return vault.Status{Dir: u.dir, Problem: u.err.Error()}
}
