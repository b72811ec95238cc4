//go:build !unix

package testkit

import (
	"os/exec"
	"runtime"
	"testing"
)

// SecretService is the Secret Service of Linux and other Unix systems;
// there is none on this OS. The tests that use one are the Unix lane's
// (make test): here StartSecretService skips them, whatever CI says, and
// they compile.
type SecretService struct {
	Addr string
}

// StartSecretService skips the test: there is no Secret Service on this OS.
func StartSecretService(t testing.TB) *SecretService {
	t.Helper()
	t.Skip("no Secret Service on " + runtime.GOOS + ": a test of the Unix lane")
	return nil
}

// Env is never reached (StartSecretService skips).
func (s *SecretService) Env() string { return "DBUS_SESSION_BUS_ADDRESS=" + s.Addr }

// Lock is never reached (StartSecretService skips).
func (s *SecretService) Lock(t testing.TB) {
	t.Helper()
	t.Skip("no Secret Service on " + runtime.GOOS)
}

// Freeze is never reached (StartSecretService skips).
func (s *SecretService) Freeze(t testing.TB) {
	t.Helper()
	t.Skip("no Secret Service on " + runtime.GOOS)
}

// SecretTool is never reached (StartSecretService skips).
func (s *SecretService) SecretTool(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	t.Skip("no Secret Service on " + runtime.GOOS)
	return nil
}
