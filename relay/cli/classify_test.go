package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/platform"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/config"
	"github.com/keyrelay/keyrelay/relay/login"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/relay/policy"
	"github.com/keyrelay/keyrelay/relay/signin"
	"github.com/keyrelay/keyrelay/relay/status"
	"github.com/keyrelay/keyrelay/vault"
)

var acct = vault.Account{Issuer: "https://as.example", Resource: "https://api.example"}

// store writes a record through a vault opened with opts, and returns the
// vault's error: a real one, wrapped as the vault wraps it.
func store(t *testing.T, opts vault.Options) error {
	t.Helper()
	v, err := vault.Open(context.Background(), opts)
	if err != nil {
		return err
	}
	return v.Update(context.Background(), acct, func(*vault.Record) (*vault.Record, error) {
		return &vault.Record{AccessToken: secret.New("fake-access"), Subject: "alice"}, nil
	})
}

func memKeychain(err error) *vault.MemKeychain {
	kc := vault.NewMemKeychain()
	kc.SetErr(err)
	return kc
}

// passphraseVault makes a passphrase vault in a new directory and returns
// its options with another passphrase file.
func passphraseVault(t *testing.T) vault.Options {
	dir := t.TempDir()
	good := testkit.WriteTemp(t, "good", "correct horse battery staple sauce\n", 0o600)
	opts := vault.Options{Dir: filepath.Join(dir, "data"), KeySpec: "passphrase", PassphraseFile: good, ScryptWorkFactor: 10}
	testkit.NoErr(t, store(t, opts))
	opts.PassphraseFile = testkit.WriteTemp(t, "bad", "a wrong passphrase of some length\n", 0o600)
	return opts
}

// noTerminal is the error of a new passphrase vault asked for its
// passphrase with a pipe, not a terminal, as stdin (the real prompt).
func noTerminal(t *testing.T) error {
	r, w, err := os.Pipe()
	testkit.NoErr(t, err)
	t.Cleanup(func() { r.Close(); w.Close() })
	return store(t, vault.Options{Dir: filepath.Join(t.TempDir(), "data"), KeySpec: "passphrase",
		Prompt: signin.Terminal{W: io.Discard, In: r}.Passphrase})
}

// corruptVault makes a file vault and spoils its tokens.
func corruptVault(t *testing.T) error {
	e := testkit.NewRelayEnv(t)
	opts := vault.Options{Dir: e.Dir, KeySpec: "file:" + e.KeyFile}
	testkit.NoErr(t, store(t, opts))
	testkit.NoErr(t, os.WriteFile(filepath.Join(e.Dir, "tokens.age"), []byte("not age at all"), 0o600))
	v, err := vault.Open(context.Background(), opts)
	testkit.NoErr(t, err)
	_, err = v.Get(context.Background(), acct)
	return err
}

// newerVault returns the error of a vault whose vault.json a newer relay
// wrote (format version 2).
func newerVault(t *testing.T) error {
	e := testkit.NewRelayEnv(t)
	opts := vault.Options{Dir: e.Dir, KeySpec: "file:" + e.KeyFile}
	testkit.NoErr(t, store(t, opts))
	p := filepath.Join(e.Dir, "vault.json")
	b, err := os.ReadFile(p)
	testkit.NoErr(t, err)
	testkit.NoErr(t, os.WriteFile(p, bytes.Replace(b, []byte(`"version": 1`), []byte(`"version": 2`), 1), 0o600))
	v, err := vault.Open(context.Background(), opts)
	testkit.NoErr(t, err)
	_, err = v.Get(context.Background(), acct)
	return err
}

// refused is an error of a dial to a port nothing listens on, as
// relay/oauth and relay/login wrap it.
func refused(t *testing.T) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	testkit.NoErr(t, err)
	addr := ln.Addr().String()
	ln.Close()
	_, err = http.Get("http://" + addr + "/.well-known/oauth-protected-resource")
	if err == nil {
		t.Fatal("a closed port answered")
	}
	return fmt.Errorf("finding the authorization server from the backend (set RELAY_AUTH_SERVER_URL to skip this): %w",
		fmt.Errorf("oauth: GET %s: %w", "http://"+addr, err))
}

func configErr(t *testing.T, vars map[string]string) error {
	cfg, _, err := config.ParseCommand("login", nil, func(k string) string { return vars[k] })
	testkit.NoErr(t, err)
	return cfg.Check()
}

func TestClassify(t *testing.T) {
	weak := testkit.WriteTemp(t, "weak", "short\n", 0o600)
	loose := testkit.WriteTemp(t, "loose-key", "AGE-SECRET-KEY-1FAKE\n", 0o644)
	if runtime.GOOS == "windows" {
		// Windows keeps no group or other mode bits, and keyrelay reads
		// no ACLs (platform): there, a key file that is no regular file
		// is the insecure one.
		loose = t.TempDir()
	}
	_, looseErr := platform.ReadSecretFile(loose, 1024)
	badPolicy := testkit.WriteTemp(t, "policy.json", `{"no_such_rule": true}`, 0o644)
	_, policyErr := policy.Load("", badPolicy)
	pol, err := policy.Load("", testkit.WriteTemp(t, "strict.json", `{"allowed_backend_hosts": ["api.example.com"]}`, 0o644))
	testkit.NoErr(t, err)
	listenErr := func() error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		testkit.NoErr(t, err)
		defer ln.Close()
		_, err = net.Listen("tcp", ln.Addr().String())
		return fmt.Errorf("oauth: listen for the login callback: %w", err)
	}()

	for _, tc := range []struct {
		name string
		err  error
		code int
		hint string // a part of the hint; "" for none
	}{
		{"nil", nil, ExitOK, ""},
		// The configuration: exit 2, from any step.
		{"unknown flag", Usage(errors.New("flag provided but not defined: -nope")), ExitUsage, "run `relay help login` for its flags"},
		{"no server URL", Config(configErr(t, nil)), ExitUsage, "set RELAY_BACKEND_URL"},
		{"http to a remote host", Config(configErr(t, map[string]string{"RELAY_BACKEND_URL": "http://api.example.com"})), ExitUsage, "fix the setting named above; `relay help login`"},
		{"RELAY_VAULT_KEY=bogus", store(t, vault.Options{Dir: t.TempDir(), KeySpec: "bogus"}), ExitUsage, "check RELAY_VAULT_KEY (keychain, passphrase, file:PATH or cmd:COMMAND)"},
		{"key command fails", store(t, vault.Options{Dir: t.TempDir(), KeySpec: "cmd:false"}), ExitUsage, "check RELAY_VAULT_KEY"},
		{"no key source", store(t, vault.Options{Dir: t.TempDir(), Keychain: memKeychain(vault.ErrUnavailable)}), ExitUsage, "one of the key sources above"},
		{"weak passphrase", store(t, vault.Options{Dir: t.TempDir(), KeySpec: "passphrase", PassphraseFile: weak}), ExitUsage, "choose a longer passphrase"},
		{"passphrase vault without a terminal", noTerminal(t), ExitUsage, "RELAY_VAULT_PASSPHRASE_FILE"},
		{"weak passphrase inside a sign-in", SignIn(fmt.Errorf("new tokens could not be stored, so none were requested; the stored tokens are kept: %w",
			vault.CheckPassphrase(secret.New("short")))), ExitUsage, "choose a longer passphrase"},
		{"insecure key file", fmt.Errorf("vault: key file: %w", looseErr), ExitUsage, "fix the owner or permissions of " + loose},
		{"bad policy file", policyErr, ExitUsage, "fix the policy file named above"},
		{"refused by policy", pol.CheckBackend("https://other.example.com"), ExitUsage, "the administrator's policy forbids this"},
		{"policy refuses a sign-in step", SignIn(&login.Error{Err: fmt.Errorf("%w: the device grant is turned off (disable_device_grant)", policy.ErrDenied)}), ExitUsage, "policy forbids"},
		// The vault's state: exit 1, also during a sign-in.
		{"locked keychain", store(t, vault.Options{Dir: t.TempDir(), Keychain: memKeychain(fmt.Errorf("vault: keychain set: unlock refused: %w", vault.ErrLocked))}), ExitError, "unlock the OS keychain"},
		{"locked keychain during a sign-in", SignIn(fmt.Errorf("refresh failed; the stored tokens are kept: %w", fmt.Errorf("vault: keychain get: no answer within 5s (is it locked?): %w", vault.ErrLocked))), ExitError, "unlock the OS keychain"},
		{"wrong passphrase", store(t, passphraseVault(t)), ExitError, "type the vault's passphrase again"},
		{"corrupt vault", corruptVault(t), ExitError, "moved aside"},
		{"vault of a newer relay", newerVault(t), ExitError, "a newer relay wrote this vault"},
		{"interrupted", SignIn(fmt.Errorf("login: %w", context.Canceled)), ExitError, ""},
		// The sign-in: exit 3, a hint by why.
		{"access denied", SignIn(&login.Error{Err: &oauth.Error{Code: "access_denied", Description: "the user said no"}}), ExitLogin, "the sign-in was declined"},
		{"refused by the server", SignIn(fmt.Errorf("%w: the server refused the token of the last sign-in at once", broker.ErrSignInRefused)), ExitLogin, "relay login --force"},
		{"timed out", SignIn(&login.Error{Err: fmt.Errorf("%w after 5m0s", oauth.ErrLoginTimeout)}), ExitLogin, "RELAY_LOGIN_TIMEOUT"},
		{"server unreachable", SignIn(refused(t)), ExitLogin, "is the server running?"},
		{"callback port taken", SignIn(listenErr), ExitLogin, "RELAY_CALLBACK_PORT"},
		{"unknown client", SignIn(&login.Error{Err: &oauth.Error{Code: "invalid_client"}}), ExitLogin, "RELAY_CLIENT_ID"},
		{"PKCE not listed", SignIn(&login.Error{Err: fmt.Errorf("%w; if X does PKCE with S256 anyway", oauth.ErrPKCEUnlisted)}), ExitLogin, "set RELAY_ASSUME_PKCE_S256 to the issuer named above"},
		{"PKCE without S256", SignIn(&login.Error{Err: oauth.ErrNoPKCE}), ExitLogin, "does not offer PKCE with S256, which the relay requires; no setting"},
		{"DPoP required", SignIn(&login.Error{Err: oauth.ErrDPoPUnsupported}), ExitLogin, "DPoP is required here; use an authorization server that offers it"},
		{"other sign-in failure", SignIn(&login.Error{Err: fmt.Errorf("%w: no code", oauth.ErrBadCallback)}), ExitLogin, "check the URL and your account"},
		// Set by the command.
		{"logout incomplete", &Error{Code: ExitIncomplete, Hint: "unlock the keychain", Err: fmt.Errorf("vault: wipe incomplete: %w", vault.ErrLocked)}, ExitIncomplete, "unlock the keychain"},
		{"not revoked", &Error{Code: ExitNotRevoked, Err: errors.New("wiped here, but NOT revoked")}, ExitNotRevoked, ""},
		// Anything else: exit 1.
		{"network outside a sign-in", refused(t), ExitError, "is the server running?"},
		{"other", errors.New("stdin: read error"), ExitError, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil && tc.name != "nil" {
				t.Fatal("the real code returned no error")
			}
			code, hint := Classify(tc.err, "login")
			if code != tc.code || (tc.hint == "") != (hint == "") || !strings.Contains(hint, tc.hint) || strings.Contains(hint, "%!") {
				t.Fatalf("Classify(%v) = %d %q, want %d and a hint with %q", tc.err, code, hint, tc.code, tc.hint)
			}
		})
	}
}

// TestHintsHoldNoSecret: a hint is a fixed text: the error's content (a
// server's description, a URL's key) never reaches it.
func TestHintsHoldNoSecret(t *testing.T) {
	const fake = "FAKE-secret-in-an-error"
	for _, err := range []error{
		SignIn(&login.Error{Err: &oauth.Error{Code: "access_denied", Description: fake}}),
		Config(errors.New("RELAY_BACKEND_URL " + fake)),
		Usage(errors.New(fake)),
		errors.New(fake),
	} {
		if _, hint := Classify(err, "login"); strings.Contains(hint, fake) {
			t.Fatalf("hint %q holds the error's content", hint)
		}
	}
}

func TestReport(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
		code int
	}{
		{"nil", nil, "", ExitOK},
		{"usage", Usage(errors.New("unexpected argument \"x\"")), "relay: error: unexpected argument \"x\"\nrelay: hint: run `relay help status` for its flags and settings\n", ExitUsage},
		{"no hint", errors.New("boom"), "relay: error: boom\n", ExitError},
		{"code only", &Error{Code: ExitError}, "", ExitError},
		{"code and hint only", &Error{Code: ExitError, Hint: "run `relay login` to sign in"}, "relay: hint: run `relay login` to sign in\n", ExitError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if code := Report(&b, tc.err, "status"); code != tc.code || b.String() != tc.want {
				t.Fatalf("Report = %d %q, want %d %q", code, b.String(), tc.code, tc.want)
			}
		})
	}
}

func TestHelpListsExitCodes(t *testing.T) {
	var b bytes.Buffer
	testkit.NoErr(t, Help(&b, nil))
	for _, c := range codes {
		testkit.Contains(t, "the help lacks exit code", b.String(), fmt.Sprintf("\n  %d  %s\n", c.code, c.meaning))
	}
	b.Reset()
	testkit.NoErr(t, Help(&b, []string{"login"}))
	if strings.Contains(b.String(), "exit codes:") {
		t.Error("a command's help repeats the exit codes")
	}
}

func TestStatus(t *testing.T) {
	signedIn := status.Report{LoggedIn: true, Subject: "alice"}
	for _, tc := range []struct {
		name            string
		r               status.Report
		cfgErr, openErr error
		code            int
		hint            string
	}{
		{"signed in", signedIn, nil, nil, ExitOK, ""},
		{"signed in, expired access token", status.Report{LoggedIn: true, Expired: true}, nil, nil, ExitOK, ""},
		{"signed out", status.Report{}, nil, nil, ExitError, "run `relay login` to sign in"},
		{"signed in with a problem", status.Report{LoggedIn: true, Problem: "vault.json is unreadable"}, nil, nil, ExitError, ""},
		{"a vault problem", status.Report{Problem: "locked: needs the passphrase"}, nil, nil, ExitError, ""},
		{"locked keychain", status.Report{Problem: "x"}, nil, fmt.Errorf("vault: keychain get: %w", vault.ErrLocked), ExitError, "unlock the OS keychain"},
		{"no server URL", status.Report{ConfigProblem: config.ErrNoServer.Error()}, config.ErrNoServer, nil, ExitUsage, "set RELAY_BACKEND_URL"},
		{"a bad setting", status.Report{ConfigProblem: "x"}, errors.New(`RELAY_LOG_LEVEL "loud": want debug, info, warn or error`), nil, ExitUsage, "fix the setting named above"},
		{"bad policy file", status.Report{ConfigProblem: "x"}, fmt.Errorf("%w /etc/keyrelay/policy.json: not a regular file", policy.ErrInvalid), nil, ExitUsage, "fix the policy file"},
		{"RELAY_VAULT_KEY=bogus", status.Report{Problem: "x"}, nil, fmt.Errorf("%w: RELAY_VAULT_KEY must be ...", vault.ErrKeySource), ExitUsage, "check RELAY_VAULT_KEY"},
		{"the configuration wins over a locked keychain", status.Report{Problem: "x"}, config.ErrNoServer, fmt.Errorf("%w", vault.ErrLocked), ExitUsage, "set RELAY_BACKEND_URL"},
		{"a vault key error wins over a locked keychain", status.Report{}, nil, fmt.Errorf("%w", vault.ErrKeySource), ExitUsage, "check RELAY_VAULT_KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Status(tc.r, tc.cfgErr, tc.openErr)
			code, hint := Classify(err, "status")
			if code != tc.code || (tc.hint == "") != (hint == "") || !strings.Contains(hint, tc.hint) {
				t.Fatalf("Status = %v: %d %q, want %d %q", err, code, hint, tc.code, tc.hint)
			}
			if e, ok := errors.AsType[*Error](err); err != nil && (!ok || e.Err != nil) {
				t.Fatalf("Status returned %v, want an *Error with no message (the report says it)", err)
			}
		})
	}
}
