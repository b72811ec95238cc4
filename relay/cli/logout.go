package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/keyrelay/keyrelay/relay/broker"
)

// LoggedOut ends a logout whose wipe removed everything: the last line
// says whether the server revoked the sign-in. When tokens were stored
// and were not revoked (the vault could not be read, the configuration or
// the policy forbade asking, the server failed or cannot revoke), they
// stay valid at the server until they expire: ExitNotRevoked. So does an
// identity provider's session (cross-app access) that the logout could
// not revoke there (idpLeft).
func LoggedOut(stderr io.Writer, outcome broker.RevokeOutcome, stored, idpLeft bool) error {
	switch {
	case idpLeft:
		return &Error{Code: ExitNotRevoked, Err: errors.New("wiped here, but the identity provider's session was NOT revoked there, " +
			"which honours it until it expires; end it there if you can")}
	case outcome == broker.Revoked:
		fmt.Fprintln(stderr, "relay: logged out: revoked at the server and wiped here; no credential of keyrelay remains")
	case outcome == broker.NothingStored, !stored:
		fmt.Fprintln(stderr, "relay: logged out; no credential of keyrelay remains")
	default:
		return &Error{Code: ExitNotRevoked, Err: errors.New("wiped here, but NOT revoked at the server, " +
			"which honours the sign-in until it expires; end it there if you can")}
	}
	return nil
}
