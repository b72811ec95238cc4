package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/keyrelay/keyrelay/platform"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/config"
	"github.com/keyrelay/keyrelay/relay/front"
	"github.com/keyrelay/keyrelay/relay/policy"
	"github.com/keyrelay/keyrelay/relay/setup"
	"github.com/keyrelay/keyrelay/relay/signin"
	"github.com/keyrelay/keyrelay/relay/status"
	"github.com/keyrelay/keyrelay/vault"
)

func cmdServe(ctx context.Context, args []string, e env, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := parseCmd("serve", args, e, stderr, nil)
	if err != nil {
		return err
	}
	log := setup.Logger(stderr, cfg.LogLevel)
	log.Info("relay serving on stdio", "version", version, "server", config.RedactURL(cfg.Server()),
		"auth_server", config.RedactURL(cfg.AuthServerURL), "headers", len(cfg.Headers))
	return front.New(setup.Front(ctx, cfg, e.get, log, version)).Serve(ctx, stdin, stdout)
}

func cmdLogin(ctx context.Context, args []string, e env, stderr io.Writer) error {
	var force, device bool
	cfg, err := parseCmd("login", args, e, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&force, "force", false, "")
		fs.BoolVar(&device, "device", false, "")
	})
	if err != nil {
		return err
	}
	if err := cfg.Check(); err != nil {
		return usage(err)
	}
	pol, err := cfg.LoadPolicy()
	if err != nil {
		return err
	}
	if err := cfg.CheckPolicy(pol); err != nil {
		return usage(err)
	}
	if device && !pol.DeviceGrantAllowed() {
		return usage(fmt.Errorf("%w: the device grant is turned off (disable_device_grant); sign in with the browser", policy.ErrDenied))
	}
	term := signin.Terminal{W: stderr}
	ctx = vault.WithNotice(ctx, func(msg string) { fmt.Fprintf(stderr, "relay: %s\n", msg) }) // a new key file
	p, err := setup.Open(ctx, cfg, setup.Logger(stderr, cfg.LogLevel), pol, term.Passphrase)
	if err != nil {
		return err
	}
	p.Auth.Device, p.Auth.NoBrowser = device, !platform.BrowserAvailable(e.get)
	signIn := p.Broker.Token
	if force {
		signIn = p.Broker.Relogin
	}
	if _, err := signIn(ctx, term); errors.Is(err, vault.ErrWeakPassphrase) {
		return &codedError{code: exitUsage, err: err, hint: "choose a longer passphrase, then run `relay login` again"}
	} else if err != nil {
		return &codedError{code: exitLogin, err: err, hint: "check the URL and your account, then run `relay login` again"}
	}
	r, _ := p.Broker.Cached(ctx)
	fmt.Fprintf(stderr, "relay: %s\n", status.SignedIn(r))
	return nil
}

func cmdLogout(ctx context.Context, args []string, e env, stderr io.Writer) error {
	cfg, err := parseCmd("logout", args, e, stderr, nil)
	if err != nil {
		return err
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
	stopWaiting := term.Waiting("relay: waiting for the vault: another relay may be signing in (at most RELAY_LOGIN_TIMEOUT)...")
	r, err := broker.Revocation{}, skip
	if skip == nil {
		r, err = p.Broker.Revoke(ctx)
	}
	fmt.Fprintf(stderr, "relay: %s\n", r.Report(err))
	rep, err := p.Vault.Wipe(ctx)
	stopWaiting()
	for _, s := range rep.Steps {
		fmt.Fprintf(stderr, "relay: %s\n", s)
	}
	p.Broker.Forget()
	if err != nil {
		return &codedError{code: exitIncomplete, err: err, hint: "unlock the keychain or fix the permissions, then run `relay logout` again"}
	}
	return loggedOut(stderr, r.Outcome, stored)
}

// loggedOut ends a logout whose wipe removed everything: the last line
// says whether the server revoked the sign-in. When tokens were stored
// and were not revoked (the vault could not be read, the configuration or
// the policy forbade asking, the server failed or cannot revoke), they
// stay valid at the server until they expire: exitNotRevoked.
func loggedOut(stderr io.Writer, outcome broker.RevokeOutcome, stored bool) error {
	switch {
	case outcome == broker.Revoked:
		fmt.Fprintln(stderr, "relay: logged out: revoked at the server and wiped here; no credential of keyrelay remains")
	case outcome == broker.NothingStored, !stored:
		fmt.Fprintln(stderr, "relay: logged out; no credential of keyrelay remains")
	default:
		return &codedError{code: exitNotRevoked, err: errors.New("wiped here, but NOT revoked at the server, " +
			"which honours the sign-in until it expires; end it there if you can")}
	}
	return nil
}

func cmdStatus(ctx context.Context, args []string, e env, stdout, stderr io.Writer) error {
	var asJSON bool
	cfg, err := parseCmd("status", args, e, stderr, func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "") })
	if err != nil {
		return err
	}
	// As configured, before Check; printable.
	src := status.Sources{AuthServer: config.RedactURL(cfg.AuthServerURL), Backend: config.RedactURL(cfg.Server())}
	pol, err := cfg.LoadPolicy()
	if err != nil {
		return err
	}
	src.Policy, src.ConfigErr = pol.Summary(), cfg.Check()
	if src.ConfigErr == nil { // the policy checks URLs that Check accepted
		src.ConfigErr = cfg.CheckPolicy(pol)
	}
	p, err := setup.Open(ctx, cfg, setup.Logger(stderr, cfg.LogLevel), pol, nil)
	if err != nil {
		return err
	}
	term := signin.Terminal{W: stderr}
	src.Vault, src.Tokens, src.Issuer = p.Vault, p.Broker, p.Issuer
	src.Waiting = func() func() { return term.Waiting("relay: waiting for the vault: another relay may be signing in...") }
	return status.Build(ctx, src).Print(stdout, asJSON)
}

// parseCmd parses the shared settings plus a command's own flags; a bad
// command line is a usage error.
func parseCmd(name string, args []string, e env, stderr io.Writer, own func(*flag.FlagSet)) (*config.Config, error) {
	cfg, err := config.ParseCommand(name, args, e.get, stderr, own)
	return cfg, usage(err)
}
