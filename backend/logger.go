package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// newLogger builds the one logger: text to stderr, with the secret
// ReplaceAttr safety net.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("BACKEND_LOG_LEVEL %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: secret.ReplaceAttr})), nil
}
