package cli

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/relay/config"
	"github.com/keyrelay/keyrelay/relay/policy"
	"github.com/keyrelay/keyrelay/relay/status"
	"github.com/keyrelay/keyrelay/vault"
)

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
