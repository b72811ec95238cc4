package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/keyrelay/keyrelay/platform"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/policy"
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
	pol, err := loadPolicy(cfg)
	if err != nil {
		return err
	}
	if err := checkPolicy(cfg, pol); err != nil {
		return usageError{err}
	}
	if device && !pol.DeviceGrantAllowed() {
		return usageError{fmt.Errorf("%w: the device grant is turned off (disable_device_grant); sign in with the browser", policy.ErrDenied)}
	}
	log := newLogger(stderr, cfg.LogLevel)
	p, err := wire(ctx, cfg, log, pol, terminalPrompt(stderr))
	if err != nil {
		return err
	}
	p.auth.Device = device
	p.auth.NoBrowser = !platform.BrowserAvailable(e.get)
	ui := termUI{w: stderr}
	if force {
		_, err = p.broker.Relogin(ctx, ui)
	} else {
		_, err = p.broker.Token(ctx, ui)
	}
	if err != nil {
		return &codedError{code: exitLogin, err: err, hint: "check the URL and your account, then run `relay login` again"}
	}
	r, _ := p.broker.Cached(ctx)
	fmt.Fprintf(stderr, "relay: signed in as %s (scopes: %s; expires %s)\n", orUnknown(r.Subject), joinScopes(r.Scopes), fmtTime(r.Expiry))
	return nil
}

type termUI struct{ w io.Writer }

func (u termUI) LoginURL(_ context.Context, url string) {
	fmt.Fprintf(u.w, "relay: opening your browser to sign in. If it does not open, visit:\n\n  %s\n\n", url)
}

func (u termUI) DeviceCode(_ context.Context, uri, code string) {
	fmt.Fprintf(u.w, "relay: to sign in, open this URL on any device:\n\n  %s\n\nand enter the code:\n\n  %s\n\nWaiting for you to finish...\n", uri, code)
}

func cmdLogout(ctx context.Context, args []string, e env, stderr io.Writer) error {
	cfg, err := parseCmd("logout", args, e, stderr, nil)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	checkErr := cfg.Check()
	// Logout always wipes, whatever the policy: a broken or refusing
	// policy only skips the revocation (which would contact the server).
	// The vault is opened without require_keychain so that a vault made
	// with another key source can still be read to revoke its tokens.
	pol, err := loadPolicy(cfg)
	if checkErr == nil {
		checkErr = errors.Join(err, checkPolicy(cfg, pol))
	}
	p, err := wire(ctx, cfg, log, pol.WithoutKeychainRule(), terminalPrompt(stderr))
	if err != nil {
		return err
	}
	stopWaiting := sayIfSlow(stderr, "relay: waiting for the vault: another relay may be signing in (at most RELAY_LOGIN_TIMEOUT)...")
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

// statusReport is `relay status --json`. It never holds a token.
type statusReport struct {
	LoggedIn      bool      `json:"logged_in"`
	Subject       string    `json:"subject,omitempty"`
	Scopes        []string  `json:"scopes,omitempty"`
	Expiry        time.Time `json:"expiry,omitzero"`
	Expired       bool      `json:"expired,omitempty"`
	KeySource     string    `json:"key_source"`
	Protects      string    `json:"protects,omitempty"`
	DataDir       string    `json:"data_dir"`
	AuthServer    string    `json:"auth_server"`
	Backend       string    `json:"backend"`
	Problem       string    `json:"problem,omitempty"`
	ConfigProblem string    `json:"config_problem,omitempty"`
	Policy        []string  `json:"policy,omitempty"`
}

func cmdStatus(ctx context.Context, args []string, e env, stdout, stderr io.Writer) error {
	var asJSON bool
	cfg, err := parseCmd("status", args, e, stderr, func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "") })
	if err != nil {
		return err
	}
	rep := statusReport{AuthServer: cfg.AuthServerURL, Backend: cfg.Server()}
	pol, polErr := loadPolicy(cfg)
	if polErr != nil {
		return polErr
	}
	rep.Policy = pol.Summary()
	if err := errors.Join(cfg.Check(), checkPolicy(cfg, pol)); err != nil {
		rep.ConfigProblem = err.Error()
	}
	p, err := wire(ctx, cfg, newLogger(stderr, cfg.LogLevel), pol, nil)
	if err != nil {
		return err
	}
	st := p.vault.Status(ctx)
	rep.KeySource, rep.Protects, rep.DataDir, rep.Problem = string(st.KeySource), st.Protects, st.Dir, st.Problem
	if st.HasTokens && rep.ConfigProblem == "" {
		stopWaiting := sayIfSlow(stderr, "relay: waiting for the vault: another relay may be signing in...")
		r, err := p.broker.Cached(ctx)
		stopWaiting()
		switch {
		case err == nil:
			rep.LoggedIn, rep.Subject, rep.Scopes, rep.Expiry = true, r.Subject, r.Scopes, r.Expiry
			rep.Expired = !r.Expiry.IsZero() && time.Now().After(r.Expiry)
		case !errors.Is(err, broker.ErrLoginRequired):
			rep.Problem = err.Error()
		}
	}
	return printStatus(stdout, rep, asJSON)
}

func printStatus(w io.Writer, r statusReport, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	state := "logged out"
	if r.LoggedIn {
		state = "logged in as " + orUnknown(r.Subject)
	}
	fmt.Fprintf(w, "status:      %s\n", state)
	if r.LoggedIn {
		exp := fmtTime(r.Expiry)
		if r.Expired {
			exp += " (expired; the next call refreshes it)"
		}
		fmt.Fprintf(w, "scopes:      %s\nexpires:     %s\n", joinScopes(r.Scopes), exp)
	}
	fmt.Fprintf(w, "key source:  %s\nprotects:    %s\ndata dir:    %s\nauth server: %s\nbackend:     %s\n",
		orUnknown(r.KeySource), orUnknown(r.Protects), r.DataDir, orUnknown(r.AuthServer), orUnknown(r.Backend))
	for i, l := range r.Policy {
		if i == 0 {
			fmt.Fprintln(w, "policy:")
		}
		fmt.Fprintf(w, "  %s\n", l)
	}
	for _, p := range []string{r.ConfigProblem, r.Problem} {
		if p != "" {
			fmt.Fprintf(w, "problem:     %s\n", p)
		}
	}
	return nil
}

// sayIfSlow prints msg if the returned stop is not called within a
// second: the vault's lock may be held by a relay waiting for a sign-in.
func sayIfSlow(w io.Writer, msg string) (stop func()) {
	done := make(chan struct{})
	go func() {
		select {
		case <-time.After(time.Second):
			fmt.Fprintln(w, msg)
		case <-done:
		}
	}()
	return func() { close(done) }
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "(unknown)"
	}
	return t.Local().Format(time.RFC1123)
}
