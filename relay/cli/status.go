package cli

import "github.com/keyrelay/keyrelay/relay/status"

// Status is the outcome of `relay status` once its report r is printed:
// nil when signed in and usable; otherwise an *Error with no message (the
// report says what is wrong): ExitUsage when cfgErr (the settings or the
// policy refuse them) or openErr (the vault could not be opened) is a
// configuration error, else ExitError, with the first one's hint, or the
// way to sign in.
func Status(r status.Report, cfgErr, openErr error) error {
	if r.LoggedIn && r.Problem == "" && cfgErr == nil && openErr == nil {
		return nil
	}
	e := &Error{Code: ExitError}
	for _, err := range []error{Config(cfgErr), openErr} {
		if err == nil {
			continue
		}
		code, hint := Classify(err, "status")
		if code == ExitUsage {
			return &Error{Code: ExitUsage, Hint: hint}
		}
		if e.Hint == "" {
			e.Hint = hint
		}
	}
	if e.Hint == "" && !r.LoggedIn && r.Problem == "" {
		e.Hint = "run `relay login` to sign in"
	}
	return e
}
