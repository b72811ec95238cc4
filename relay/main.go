// Command relay is keyrelay's local MCP stdio server. An MCP client such as
// Claude Code starts it; it logs the user in with OAuth 2.1 + PKCE in the
// browser, keeps the tokens in a keychain-sealed vault, and forwards tool
// calls to the backend with a Bearer token.
//
// Commands: serve (the default), login, logout, status, version, help. The
// exit codes and the hints are relay/cli's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/keyrelay/keyrelay/internal/buildinfo"
	"github.com/keyrelay/keyrelay/platform"
	"github.com/keyrelay/keyrelay/relay/cli"
	"github.com/keyrelay/keyrelay/relay/config"
)

func main() {
	// stdout belongs to the MCP protocol. Keep the real one for the
	// transport (and for what a command is asked to print: help, version,
	// status) and point os.Stdout at stderr, so a stray print anywhere
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

// run dispatches a command and reports its error (relay/cli): the exit
// code. Help asked for goes to stdout.
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
		err = cmdVersion(args, stdout)
	case "help":
		err = cli.Usage(cli.Help(stdout, args))
	default:
		err, cmd = cli.Usage(fmt.Errorf("unknown command %q", cmd)), ""
	}
	if errors.Is(err, flag.ErrHelp) {
		err = cli.Help(stdout, []string{cmd})
	}
	return cli.Report(stderr, err, cmd)
}

func cmdVersion(args []string, stdout io.Writer) error {
	switch {
	case len(args) > 0 && config.HelpFlag(args[0]):
		return flag.ErrHelp
	case len(args) > 0:
		return cli.Usage(fmt.Errorf("unexpected argument %q", args[0]))
	}
	fmt.Fprintf(stdout, "relay %s\n", buildinfo.Version())
	return nil
}
