package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/keyrelay/keyrelay/platform"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/config"
	"github.com/keyrelay/keyrelay/relay/login"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/relay/policy"
	"github.com/keyrelay/keyrelay/relay/signin"
	"github.com/keyrelay/keyrelay/vault"
)

// Error is an error whose exit code and hint are set by the command, not
// by its kind: logout's 4 and 5, or status's 1 when signed out. A nil Err
// is an exit code with no message.
type Error struct {
	Code int
	Hint string
	Err  error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// mark is what a command says about an error it returns: which step
// failed. The kind of the wrapped error decides the rest.
type mark int

const (
	usage  mark = iota + 1 // the command line
	badCfg                 // a setting (config.Config.Check)
	signIn                 // the sign-in of relay login
)

type marked struct {
	mark mark
	err  error
}

func (m *marked) Error() string { return m.err.Error() }
func (m *marked) Unwrap() error { return m.err }

// Usage marks err, if any, as a bad command line: exit 2.
func Usage(err error) error { return markErr(usage, err) }

// Config marks err, if any, as a bad setting: exit 2.
func Config(err error) error { return markErr(badCfg, err) }

// SignIn marks err, if any, as the failure of relay login's sign-in:
// exit 3, unless its kind says otherwise (a configuration or vault error).
func SignIn(err error) error { return markErr(signIn, err) }

func markErr(m mark, err error) error {
	if err == nil {
		return nil
	}
	return &marked{m, err}
}

func marks(err error, m mark) bool {
	var mk *marked
	for e := err; errors.As(e, &mk); e = mk.err {
		if mk.mark == m {
			return true
		}
	}
	return false
}

// rule gives the exit code and hint of a kind of error.
type rule struct {
	is   func(error) bool
	code int
	hint func(cmd string, err error) string
}

func is(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }

// fixed is a hint of fixed text; a %s in it is the command.
func fixed(format string) func(string, error) string {
	if !strings.Contains(format, "%s") {
		return func(string, error) string { return format }
	}
	return func(cmd string, _ error) string { return fmt.Sprintf(format, cmd) }
}

// rules are tried in order; the first that matches decides. The
// configuration's kinds come first: they exit 2 from any step, a sign-in
// included.
var rules = []rule{
	{is(vault.ErrWeakPassphrase), ExitUsage, fixed("choose a longer passphrase (a few unrelated words), then run `relay %s` again")},
	{is(vault.ErrNoKeySource), ExitUsage, fixed("set RELAY_VAULT_KEY to one of the key sources above, then run `relay %s` again")},
	{is(vault.ErrKeySource), ExitUsage, fixed("check RELAY_VAULT_KEY (keychain, passphrase, file:PATH or cmd:COMMAND) as the error says; `relay status` shows the vault's key source")},
	{is(vault.ErrInsecure), ExitUsage, insecureHint},
	{is(signin.ErrNoTerminal), ExitUsage, fixed("put the passphrase in a file of your own (mode 0600) named by RELAY_VAULT_PASSPHRASE_FILE, or run `relay %s` in a terminal")},
	{is(policy.ErrInvalid), ExitUsage, fixed("fix the policy file named above (or ask the administrator who wrote it), then run `relay %s` again")},
	{is(policy.ErrDenied), ExitUsage, fixed("the administrator's policy forbids this; `relay status` lists the policy")},
	{is(config.ErrNoServer), ExitUsage, fixed("set RELAY_BACKEND_URL to your backend (or RELAY_MCP_URL to a remote MCP server), then run `relay %s` again")},
	{func(err error) bool { return marks(err, usage) }, ExitUsage, usageHint},
	{func(err error) bool { return marks(err, badCfg) }, ExitUsage, fixed("fix the setting named above; `relay help %s` lists every setting")},
	{is(vault.ErrLocked), ExitError, fixed("unlock the OS keychain (or answer its prompt), then run `relay %s` again")},
	{is(vault.ErrUnavailable), ExitError, fixed("this vault's key is in the OS keychain, which this session cannot reach: run relay in your desktop session, or `relay logout` to start over")},
	{is(vault.ErrWrongPassphrase), ExitError, fixed("type the vault's passphrase again (or fix RELAY_VAULT_PASSPHRASE_FILE); if it is lost, `relay logout` starts a new vault")},
	{is(vault.ErrWrongKey), ExitError, fixed("the key source gives another key than the vault's: restore it, or run `relay logout` to start a new vault")},
	{is(vault.ErrKeyLost), ExitError, fixed("the vault's key is gone from its key source: run `relay logout`, then `relay login` to start a new vault")},
	{is(vault.ErrNewer), ExitError, fixed("a newer relay wrote this vault: run that relay (this one is `relay version`), or `relay logout` to wipe the vault and sign in again with this one")},
	{is(vault.ErrCorrupt), ExitError, fixed("the unusable files were moved aside: run `relay login` to start a new vault")},
	{is(context.Canceled), ExitError, nil},
	{func(err error) bool { return marks(err, signIn) }, ExitLogin, signInHint},
	{isNetwork, ExitError, fixed("is the server running? check RELAY_BACKEND_URL (or RELAY_MCP_URL) and RELAY_AUTH_SERVER_URL, then run `relay %s` again")},
}

// Classify returns the exit code of err and its hint ("" for none), for
// command cmd (to name it in the hint). A nil err is ExitOK.
func Classify(err error, cmd string) (code int, hint string) {
	if err == nil {
		return ExitOK, ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code, e.Hint
	}
	for _, r := range rules {
		if r.is(err) {
			if r.hint != nil {
				hint = r.hint(cmd, err)
			}
			return r.code, hint
		}
	}
	return ExitError, ""
}

// usageHint points at the command's help, or at the list of commands
// when there is no command ("": unknown) or it is help itself.
func usageHint(cmd string, _ error) string {
	if cmd == "" || cmd == "help" {
		return "run `relay help` for the commands"
	}
	return fmt.Sprintf("run `relay help %s` for its flags and settings", cmd)
}

// insecureHint names the refused path when the error carries it.
func insecureHint(cmd string, err error) string {
	if pe, ok := errors.AsType[*platform.PermissionError](err); ok {
		return fmt.Sprintf("fix the owner or permissions of %s as said above, then run `relay %s` again", pe.Path, cmd)
	}
	return fmt.Sprintf("fix the owner or permissions of the path named above, then run `relay %s` again", cmd)
}

// signInHint is the hint of a failed sign-in, by why it failed.
func signInHint(_ string, err error) string {
	switch {
	case errors.Is(err, oauth.ErrAccessDenied):
		return "the sign-in was declined: check the account you sign in with, then run `relay login` again"
	case errors.Is(err, broker.ErrSignInRefused):
		return "the server refused the token of the new sign-in: check that your account may use it, then run `relay login --force`"
	case errors.Is(err, oauth.ErrLoginTimeout):
		return "finish the sign-in within RELAY_LOGIN_TIMEOUT (default 5m), or run `relay login --device` to use another device"
	case errors.Is(err, login.ErrNoBrowser):
		return "open the URL above in any browser, or run `relay login --device`"
	case isListen(err):
		return "the callback port is taken: free it, or set another RELAY_CALLBACK_PORT (or none), then run `relay login` again"
	case errors.Is(err, oauth.ErrPKCEUnlisted):
		return "set RELAY_ASSUME_PKCE_S256 to the issuer named above only if you know it does PKCE with S256 (SECURITY.md says why), then run `relay login` again"
	case errors.Is(err, oauth.ErrNoPKCE):
		return "the authorization server does not offer PKCE with S256, which the relay requires; no setting changes that"
	case errors.Is(err, oauth.ErrDPoPUnsupported):
		return "DPoP is required here; use an authorization server that offers it, or unset RELAY_DPOP=on (an administrator's require_dpop cannot be unset)"
	case errors.Is(err, oauth.ErrInvalidClient):
		return "the server does not know the client: check RELAY_CLIENT_ID (or unset it to register anew), then run `relay login --force`"
	case isNetwork(err):
		return "is the server running? check RELAY_BACKEND_URL (or RELAY_MCP_URL) and RELAY_AUTH_SERVER_URL, then run `relay login` again"
	}
	return "check the URL and your account, then run `relay login` again"
}

// isNetwork reports whether err is a failure to reach a server: refused,
// unreachable, an unknown host, or a timeout.
func isNetwork(err error) bool {
	if oe, ok := errors.AsType[*net.OpError](err); ok {
		return oe.Op != "listen"
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return true
	}
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

// isListen reports whether err is a failure to listen on a local port.
func isListen(err error) bool {
	oe, ok := errors.AsType[*net.OpError](err)
	return ok && oe.Op == "listen"
}
