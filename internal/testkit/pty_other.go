//go:build !linux

package testkit

import (
	"os"
	"testing"
)

// OpenPTY skips the test: the pseudo-terminal helper is Linux only.
func OpenPTY(t testing.TB) (master, tty *os.File) {
	t.Helper()
	t.Skip("OpenPTY: no pseudo-terminal helper on this OS")
	return nil, nil
}
