// Package testkit is the test harness shared by keyrelay's tests: a
// goroutine-safe buffer, polling with a deadline, a private Secret Service
// (D-Bus and gnome-keyring) per test, a private tmux server (terminals
// driven as a person drives them), the repository's binaries built once
// per test process, a relay started on raw stdio pipes or behind mcp-go's
// stdio client, long-running helper processes (the backend on a free
// port), a client of the backend's tool API, P-256 keys, JWKS and signed
// JWTs, an identity provider's token exchange for cross-app access
// (IDJAGIssuer), and a search for secrets in outputs and files (Leaks).
// Subpackage chain runs the built-in authorization server and example
// backend on one loopback listener; subpackage faultfs gives real
// file-system faults.
//
// It is test support only: archtest forbids importing it from product
// code. It imports nothing of keyrelay's own, so the tests of every
// package (vault and backend's internal tests too) can use it.
//
// What it needs: the go tool on PATH (to build binaries), and for
// StartSecretService (unix only) dbus-daemon and gnome-keyring-daemon
// (Debian: dbus, gnome-keyring; secret-tool from libsecret-tools for
// SecretTool), and tmux for StartTmux (a real terminal). A test whose
// tools are missing skips, and fails under CI=true (SkipOrFail).
package testkit
