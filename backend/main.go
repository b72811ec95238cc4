// Command backend is keyrelay's example backend: a stateless net/http
// service that validates JWT access tokens and runs tools, and optionally
// (--auth-server) a built-in OAuth 2.1 authorization server for development.
//
// It is the worked example of packages tool and bearer. Run
// `backend help` for settings; the exit codes are in help.go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/keyrelay/keyrelay/backend/authserver"
	"github.com/keyrelay/keyrelay/backend/bearer"
	"github.com/keyrelay/keyrelay/internal/buildinfo"
	"github.com/keyrelay/keyrelay/platform"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := command(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command runs the command line args and returns the exit code: help and
// version on stdout, the backend otherwise; an error and its hint go to
// stderr.
func command(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var err error
	switch {
	case len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help"):
		if len(args) > 1 {
			err = usageError{fmt.Errorf("unexpected argument %q", args[1])}
			break
		}
		printHelp(stdout)
		return exitOK
	case len(args) > 0 && (args[0] == "version" || args[0] == "-version" || args[0] == "--version"):
		if len(args) > 1 {
			err = usageError{fmt.Errorf("unexpected argument %q", args[1])}
			break
		}
		fmt.Fprintf(stdout, "backend %s\n", buildinfo.Version())
		return exitOK
	default:
		err = run(ctx, args, getenv, stderr, nil)
	}
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout)
		return exitOK
	}
	code, hint := exitCode(err)
	if err != nil {
		fmt.Fprintf(stderr, "backend: error: %v\n", err)
	}
	if hint != "" {
		fmt.Fprintf(stderr, "backend: hint: %s\n", hint)
	}
	return code
}

// run starts the backend and blocks until ctx ends. ready, if not nil,
// receives the listening addresses once they accept connections.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready chan<- []string) error {
	cfg, err := parseConfig(args, getenv)
	if err != nil {
		return usageError{err}
	}
	log, err := newLogger(stderr, cfg.LogLevel)
	if err != nil {
		return usageError{err}
	}
	app, err := build(ctx, cfg, log, stderr)
	if err != nil {
		return err
	}
	defer app.close()
	return app.serve(ctx, ready)
}

// usageError is a bad command line or setting.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCode maps run's error to the exit code and a hint ("" for none).
func exitCode(err error) (int, string) {
	var le *listenError
	switch {
	case err == nil:
		return exitOK, ""
	case errors.As(err, &le):
		if errors.Is(err, syscall.EADDRINUSE) {
			return exitError, fmt.Sprintf("another program listens on %s: stop it, or choose another address with --%s (%s)", le.addr, le.flag, le.env)
		}
		return exitError, fmt.Sprintf("check --%s (%s): a local address and a port this user may open", le.flag, le.env)
	case errors.Is(err, errNoIssuer):
		return exitUsage, "run `backend --auth-server` for a built-in authorization server, or set AUTH_SERVER_URL to your issuer"
	case errors.As(err, new(usageError)), errors.Is(err, authserver.ErrConfig), errors.Is(err, authserver.ErrUserSpec),
		errors.Is(err, authserver.ErrShortSecret), errors.Is(err, authserver.ErrKeyFile), errors.Is(err, bearer.ErrConfig),
		errors.Is(err, platform.ErrInsecure):
		return exitUsage, "run `backend help` for the flags and settings"
	case errors.Is(err, bearer.ErrDiscovery):
		return exitError, "is the authorization server running? check AUTH_SERVER_URL (--auth-server-url)"
	}
	return exitError, ""
}
