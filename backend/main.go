// Command backend is keyrelay's example backend: a stateless net/http
// service that validates JWT access tokens and runs tools, and optionally
// (--auth-server) a built-in OAuth 2.1 authorization server for development.
//
// It is the worked example of packages tool and bearer. Run
// `backend -h` for settings.
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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "backend: error: %v\n", err)
		os.Exit(1)
	}
}

// run starts the backend and blocks until ctx ends. ready, if not nil,
// receives the listening addresses once they accept connections.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready chan<- []string) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.LogLevel)
	if err != nil {
		return err
	}
	app, err := build(ctx, cfg, log, stderr)
	if err != nil {
		return err
	}
	defer app.close()
	return app.serve(ctx, ready)
}
