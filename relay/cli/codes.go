// Package cli holds the relay's command-line conventions: the exit codes,
// the one hint per kind of error (Classify), how an error is reported on
// stderr (Report), and the help with the table of exit codes (Help).
// Package main wires the commands and leaves every exit code to this
// package, so the mapping lives in one place and table tests call it.
//
// Security properties: a hint is a fixed text, or names a path or a
// setting; it never holds a value from the error, the environment or a
// server.
//
// Non-goals: deciding what a command does; the messages of the errors
// themselves, which their packages write.
package cli

import (
	"fmt"
	"io"

	"github.com/keyrelay/keyrelay/relay/config"
)

// Exit codes of the relay. Scripts may rely on them; the README has the
// same table.
//
//	code  meaning                                            examples
//	0     ok                                                 login signed in; status: signed in and usable
//	1     an error of no kind below; status: not usable      a locked keychain; a wrong passphrase;
//	                                                         status when signed out or the vault has a problem
//	2     a bad command line or configuration                an unknown command or flag; RELAY_BACKEND_URL unset
//	                                                         or not https; RELAY_VAULT_KEY=bogus; no key source;
//	                                                         a key file with loose permissions; a bad or refusing
//	                                                         policy file; a weak new passphrase
//	3     the sign-in failed or was refused                  access denied on the sign-in page; the server
//	                                                         unreachable during login; the sign-in timed out
//	4     logout could not remove everything                 the keychain was locked during logout
//	5     logout wiped everything here, but the server did   the server has no revocation endpoint, or failed
//	      not revoke the sign-in
const (
	ExitOK         = 0
	ExitError      = 1
	ExitUsage      = 2
	ExitLogin      = 3
	ExitIncomplete = 4
	ExitNotRevoked = 5
)

// codes is the table above, for the help.
var codes = []struct {
	code    int
	meaning string
}{
	{ExitOK, "ok; status: signed in and usable"},
	{ExitError, "an error (the message says which); status: signed out, locked, or a problem"},
	{ExitUsage, "a bad command line or configuration: a flag, a setting, the vault's key source, the policy"},
	{ExitLogin, "the sign-in failed or was refused"},
	{ExitIncomplete, "logout could not remove everything"},
	{ExitNotRevoked, "logout wiped everything here, but the server did not revoke the sign-in"},
}

// Help writes `relay help [command]` (config.Help) to w, and after the
// overview the exit codes.
func Help(w io.Writer, args []string) error {
	if err := config.Help(w, args); err != nil || len(args) > 0 {
		return err
	}
	fmt.Fprintln(w, "\nexit codes:")
	for _, c := range codes {
		fmt.Fprintf(w, "  %d  %s\n", c.code, c.meaning)
	}
	return nil
}
