package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/keyrelay/keyrelay/internal/buildinfo"
	"github.com/keyrelay/keyrelay/platform"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/cli"
	"github.com/keyrelay/keyrelay/relay/config"
	"github.com/keyrelay/keyrelay/relay/front"
	"github.com/keyrelay/keyrelay/relay/policy"
	"github.com/keyrelay/keyrelay/relay/setup"
	"github.com/keyrelay/keyrelay/relay/signin"
	"github.com/keyrelay/keyrelay/relay/status"
	"github.com/keyrelay/keyrelay/vault"
)

func cmdServe(ctx context.Context, args []string, e env, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, _, err := config.ParseCommand("serve", args, e.get)
	if err != nil {
		return cli.Usage(err)
	}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, cli.OnTerminal) // a person started it; it serves all the same
	}
	version := buildinfo.Version()
	log := setup.Logger(stderr, cfg.LogLevel)
	log.Info("relay serving on stdio", "version", version, "server", config.RedactURL(cfg.Server()),
		"auth_server", config.RedactURL(cfg.AuthServerURL), "headers", len(cfg.Headers))
	return front.New(setup.Front(ctx, cfg, e.get, log, version)).Serve(ctx, stdin, stdout)
}

func cmdLogin(ctx context.Context, args []string, e env, stderr io.Writer) error {
	cfg, sw, err := config.ParseCommand("login", args, e.get)
	if err != nil {
		return cli.Usage(err)
	}
	if err := cfg.Check(); err != nil {
		return cli.Config(err)
	}
	pol, err := cfg.LoadPolicy()
	if err != nil {
		return err
	}
	if err := cfg.CheckPolicy(pol); err != nil {
		return err
	}
	if sw.Device && cfg.ClientCreds {
		return cli.Usage(errors.New("--device and client credentials do not mix: the client_credentials grant needs no person"))
	}
	if sw.Device && cfg.IdPIssuer != "" {
		return cli.Usage(errors.New("--device and cross-app access do not mix: the identity provider's sign-in is traded for the server's token"))
	}
	if sw.Device && !pol.DeviceGrantAllowed() {
		return fmt.Errorf("%w: the device grant is turned off (disable_device_grant); sign in with the browser", policy.ErrDenied)
	}
	term := signin.Terminal{W: stderr}
	ctx = vault.WithNotice(ctx, func(msg string) { fmt.Fprintf(stderr, "relay: %s\n", msg) }) // a new key file
	p, err := setup.Open(ctx, cfg, setup.Logger(stderr, cfg.LogLevel), pol, term.Passphrase)
	if err != nil {
		return err
	}
	p.Auth.Device, p.Auth.NoBrowser = sw.Device, !platform.BrowserAvailable(e.get)
	signIn := p.Broker.Token
	if sw.Force {
		signIn = p.Broker.Relogin
	}
	if _, err := signIn(ctx, term); err != nil {
		return cli.SignIn(err)
	}
	r, _ := p.Broker.Cached(ctx)
	fmt.Fprintf(stderr, "relay: %s\n", status.SignedIn(r))
	return nil
}

func cmdLogout(ctx context.Context, args []string, e env, stderr io.Writer) error {
	cfg, _, err := config.ParseCommand("logout", args, e.get)
	if err != nil {
		return cli.Usage(err)
	}
	// Logout always wipes, whatever the policy: a broken or refusing
	// policy only skips the revocation (which would contact the server).
	// The vault is opened without require_keychain so that a vault made
	// with another key source can still be read to revoke its tokens.
	pol, polErr := cfg.LoadPolicy()
	skip := cfg.Check()
	if skip == nil {
		skip = errors.Join(polErr, cfg.CheckPolicy(pol))
	}
	term := signin.Terminal{W: stderr}
	p, err := setup.Open(ctx, cfg, setup.Logger(stderr, cfg.LogLevel), pol.WithoutKeychainRule(), term.Passphrase)
	if err != nil {
		return err
	}
	stored := p.Vault.HasTokens()
	// Said only while another relay holds the vault (vault.WithLockWait).
	ctx = vault.WithLockWait(ctx, func() func() {
		return term.Waiting("relay: waiting for the vault: another relay may be signing in (at most RELAY_LOGIN_TIMEOUT)...")
	})
	r, err := broker.Revocation{}, skip
	if skip == nil {
		r, err = p.Broker.Revoke(ctx)
	}
	fmt.Fprintf(stderr, "relay: %s\n", r.Report(err))
	idpLeft := false
	if skip == nil {
		var line string
		if line, idpLeft = p.Auth.RevokeIdP(ctx); line != "" {
			fmt.Fprintf(stderr, "relay: %s\n", line)
		}
	}
	rep, err := p.Vault.Wipe(ctx)
	for _, s := range rep.Steps {
		fmt.Fprintf(stderr, "relay: %s\n", s)
	}
	p.Broker.Forget()
	if err != nil {
		return &cli.Error{Code: cli.ExitIncomplete, Err: err, Hint: "unlock the keychain or fix the permissions, then run `relay logout` again"}
	}
	if idpLeft {
		return &cli.Error{Code: cli.ExitNotRevoked, Err: errors.New("wiped here, but the identity provider's session was NOT revoked there, " +
			"which honours it until it expires; end it there if you can")}
	}
	return loggedOut(stderr, r.Outcome, stored)
}

// loggedOut ends a logout whose wipe removed everything: the last line
// says whether the server revoked the sign-in. When tokens were stored
// and were not revoked (the vault could not be read, the configuration or
// the policy forbade asking, the server failed or cannot revoke), they
// stay valid at the server until they expire: cli.ExitNotRevoked.
func loggedOut(stderr io.Writer, outcome broker.RevokeOutcome, stored bool) error {
	switch {
	case outcome == broker.Revoked:
		fmt.Fprintln(stderr, "relay: logged out: revoked at the server and wiped here; no credential of keyrelay remains")
	case outcome == broker.NothingStored, !stored:
		fmt.Fprintln(stderr, "relay: logged out; no credential of keyrelay remains")
	default:
		return &cli.Error{Code: cli.ExitNotRevoked, Err: errors.New("wiped here, but NOT revoked at the server, " +
			"which honours the sign-in until it expires; end it there if you can")}
	}
	return nil
}

// cmdStatus prints the report, whatever is wrong: with --json, stdout is
// always one JSON object. The exit code is cli.Status's.
func cmdStatus(ctx context.Context, args []string, e env, stdout, stderr io.Writer) error {
	cfg, sw, err := config.ParseCommand("status", args, e.get)
	if err != nil {
		if sw.JSON && !errors.Is(err, flag.ErrHelp) {
			_ = status.Report{ConfigProblem: err.Error()}.Print(stdout, true)
		}
		return cli.Usage(err)
	}
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
	p, openErr := setup.Open(ctx, cfg, setup.Logger(stderr, cfg.LogLevel), pol, nil)
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
	r := status.Build(ctx, src)
	if err := r.Print(stdout, sw.JSON); err != nil {
		return err
	}
	return cli.Status(r, cfgErr, openErr)
}

// idpStatus is the identity provider session of cross-app access, for
// the status report.
func idpStatus(ctx context.Context, p *setup.Parts) *status.IdP {
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
