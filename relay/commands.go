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
	pol, err := setup.LoginPolicy(cfg, sw)
	if err != nil {
		return err
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
	return cli.LoggedOut(stderr, r.Outcome, stored, idpLeft)
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
	r, cfgErr, openErr := setup.Status(ctx, cfg, stderr)
	if err := r.Print(stdout, sw.JSON); err != nil {
		return err
	}
	return cli.Status(r, cfgErr, openErr)
}
