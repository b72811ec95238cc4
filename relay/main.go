// Command relay is keyrelay's local MCP stdio server. An MCP client such as
// Claude Code starts it; it logs the user in with OAuth 2.1 + PKCE in the
// browser, keeps the tokens in a keychain-sealed vault, and forwards tool
// calls to the backend with a Bearer token.
//
// Commands: serve (the default), login, logout, status, version, help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/keyrelay/keyrelay/platform"
	"github.com/keyrelay/keyrelay/relay/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes, mapped in one place.
const (
	exitOK         = 0
	exitError      = 1 // anything else
	exitUsage      = 2 // bad command line or configuration
	exitLogin      = 3 // the login failed or was refused
	exitIncomplete = 4 // logout could not remove everything
	exitNotRevoked = 5 // logout wiped everything here, but the server did not revoke the sign-in
)

// usage marks err, if any, as a usage error: exitUsage, and a hint.
func usage(err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: exitUsage, err: err, hint: "run `relay help` for commands and settings"}
}

// codedError carries a specific exit code and an optional hint.
type codedError struct {
	code int
	err  error
	hint string
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func main() {
	// stdout belongs to the MCP protocol. Keep the real one for the
	// transport and point os.Stdout at stderr, so a stray print anywhere
	// cannot corrupt the stream.
	stdout := os.Stdout
	os.Stdout = os.Stderr
	stdin, restore := os.Stdin, func() {}
	if cmd, _ := config.Command(os.Args[1:]); cmd == "serve" {
		stdin, restore = platform.TuneForStdio()
	}
	ctx, stop := platform.NotifyContext()
	code := run(ctx, os.Args[1:], env{config.ScrubEnv()}, stdin, stdout, os.Stderr)
	stop()
	restore()
	os.Exit(code)
}

type env struct{ get func(string) string }

// run dispatches a command and maps its error to an exit code.
func run(ctx context.Context, args []string, e env, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd, args := config.Command(args)
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, args, e, stdin, stdout, stderr)
	case "login":
		err = cmdLogin(ctx, args, e, stderr)
	case "logout":
		err = cmdLogout(ctx, args, e, stderr)
	case "status":
		err = cmdStatus(ctx, args, e, stdout, stderr)
	case "version":
		fmt.Fprintf(stderr, "relay %s\n", version)
	case "help", "-h", "--help":
		err = usage(config.Help(stderr, args))
	default:
		err = usage(fmt.Errorf("unknown command %q", cmd))
	}
	return report(err, stderr)
}

// report prints err and its hint, and returns its exit code.
func report(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "relay: error: %v\n", err)
	var ce *codedError
	if !errors.As(err, &ce) {
		return exitError
	}
	if ce.hint != "" {
		fmt.Fprintf(stderr, "relay: hint: %s\n", ce.hint)
	}
	return ce.code
}
