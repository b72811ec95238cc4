package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/keyrelay/keyrelay/platform"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/policy"
	"github.com/keyrelay/keyrelay/relay/signin"
	"github.com/keyrelay/keyrelay/relay/status"
)

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
		return usageError{err}
	}
	pol, err := cfg.LoadPolicy()
	if err != nil {
		return err
	}
	if err := cfg.CheckPolicy(pol); err != nil {
		return usageError{err}
	}
	if device && !pol.DeviceGrantAllowed() {
		return usageError{fmt.Errorf("%w: the device grant is turned off (disable_device_grant); sign in with the browser", policy.ErrDenied)}
	}
	term := signin.Terminal{W: stderr}
	p, err := wire(ctx, cfg, newLogger(stderr, cfg.LogLevel), pol, term.Passphrase)
	if err != nil {
		return err
	}
	p.auth.Device, p.auth.NoBrowser = device, !platform.BrowserAvailable(e.get)
	signIn := p.broker.Token
	if force {
		signIn = p.broker.Relogin
	}
	if _, err := signIn(ctx, term); err != nil {
		return &codedError{code: exitLogin, err: err, hint: "check the URL and your account, then run `relay login` again"}
	}
	r, _ := p.broker.Cached(ctx)
	fmt.Fprintf(stderr, "relay: %s\n", status.SignedIn(r))
	return nil
}

func cmdLogout(ctx context.Context, args []string, e env, stderr io.Writer) error {
	cfg, err := parseCmd("logout", args, e, stderr, nil)
	if err != nil {
		return err
	}
	checkErr := cfg.Check()
	// Logout always wipes, whatever the policy: a broken or refusing
	// policy only skips the revocation (which would contact the server).
	// The vault is opened without require_keychain so that a vault made
	// with another key source can still be read to revoke its tokens.
	pol, err := cfg.LoadPolicy()
	if checkErr == nil {
		checkErr = errors.Join(err, cfg.CheckPolicy(pol))
	}
	term := signin.Terminal{W: stderr}
	p, err := wire(ctx, cfg, newLogger(stderr, cfg.LogLevel), pol.WithoutKeychainRule(), term.Passphrase)
	if err != nil {
		return err
	}
	stopWaiting := term.Waiting("relay: waiting for the vault: another relay may be signing in (at most RELAY_LOGIN_TIMEOUT)...")
	revoke(ctx, p.broker, checkErr, stderr)
	rep, err := p.vault.Wipe(ctx)
	stopWaiting()
	for _, s := range rep.Steps {
		line := fmt.Sprintf("relay: %s: %s", s.What, s.Outcome)
		if s.Note != "" {
			line += " (" + s.Note + ")"
		}
		fmt.Fprintln(stderr, line)
	}
	p.broker.Forget()
	if err != nil {
		return &codedError{code: exitIncomplete, err: err, hint: "unlock the keychain or fix the permissions, then run `relay logout` again"}
	}
	fmt.Fprintln(stderr, "relay: logged out; no credential of keyrelay remains")
	return nil
}

// revoke revokes the stored refresh token at the server, best effort,
// unless skip says why not, and reports the outcome.
func revoke(ctx context.Context, b *broker.Broker, skip error, w io.Writer) {
	r, err := broker.Revocation{}, skip
	if skip == nil {
		r, err = b.Revoke(ctx)
	}
	switch r.Outcome {
	case broker.NotAsked:
		fmt.Fprintf(w, "relay: revocation skipped: %v\n", err)
	case broker.NothingStored:
		fmt.Fprintln(w, "relay: revocation: no stored tokens for this server")
	case broker.NoEndpoint:
		fmt.Fprintln(w, "relay: revocation: the server has no revocation endpoint; tokens are wiped locally only")
	case broker.Revoked:
		fmt.Fprintf(w, "relay: revocation: the %s was revoked at %s\n", r.Kind, r.Issuer)
	default:
		fmt.Fprintf(w, "relay: revocation failed (%v); tokens are wiped locally anyway\n", err)
	}
}

func cmdStatus(ctx context.Context, args []string, e env, stdout, stderr io.Writer) error {
	var asJSON bool
	cfg, err := parseCmd("status", args, e, stderr, func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "") })
	if err != nil {
		return err
	}
	src := status.Sources{AuthServer: cfg.AuthServerURL, Backend: cfg.Server()} // as configured, before Check
	pol, err := cfg.LoadPolicy()
	if err != nil {
		return err
	}
	src.Policy, src.ConfigErr = pol.Summary(), errors.Join(cfg.Check(), cfg.CheckPolicy(pol))
	p, err := wire(ctx, cfg, newLogger(stderr, cfg.LogLevel), pol, nil)
	if err != nil {
		return err
	}
	term := signin.Terminal{W: stderr}
	src.Vault, src.Tokens = p.vault, p.broker
	src.Waiting = func() func() { return term.Waiting("relay: waiting for the vault: another relay may be signing in...") }
	return status.Build(ctx, src).Print(stdout, asJSON)
}
