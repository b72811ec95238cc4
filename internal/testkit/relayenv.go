package testkit

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/mark3labs/mcp-go/client"
)

// RelayEnv is one relay configuration: a private HOME, a data directory
// and a file vault key (a fresh age identity) in it, debug logs, and
// nothing of the test's own environment. Tests add the backend, the
// authorization server and the browser to Vars.
type RelayEnv struct {
	Home    string            // HOME: a temporary directory
	Dir     string            // RELAY_DATA_DIR, under Home (not created)
	KeyFile string            // the vault key file (0600), under Home
	Vars    map[string]string // the relay's environment
}

// NewRelayEnv makes a RelayEnv with PATH, HOME, RELAY_DATA_DIR,
// RELAY_VAULT_KEY=file:KeyFile and RELAY_LOG_LEVEL=debug.
func NewRelayEnv(t testing.TB) *RelayEnv {
	t.Helper()
	home := t.TempDir()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	e := &RelayEnv{Home: home, Dir: filepath.Join(home, "data"), KeyFile: filepath.Join(home, "vault-key.txt")}
	if err := os.WriteFile(e.KeyFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.Vars = map[string]string{"PATH": os.Getenv("PATH"), "HOME": home, "RELAY_DATA_DIR": e.Dir,
		"RELAY_VAULT_KEY": "file:" + e.KeyFile, "RELAY_LOG_LEVEL": "debug"}
	return e
}

// Environ is Vars as KEY=VALUE, sorted, then extra (which wins over Vars:
// the last of a duplicate key counts).
func (e *RelayEnv) Environ(extra ...string) []string {
	var out []string
	for k, v := range e.Vars {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return append(out, extra...)
}

// Run runs a relay command to completion, within 2 minutes, and returns
// its stdout, stderr and exit code.
func (e *RelayEnv) Run(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return RunCmd(t, Relay(t), e.Environ(), args...)
}

// Start runs a relay command on raw pipes (see Proc).
func (e *RelayEnv) Start(t testing.TB, args []string, extra ...string) *Proc {
	t.Helper()
	return Start(t, Relay(t), e.Environ(extra...), args...)
}

// Serve runs `relay serve` driven by mcp-go's client with opts, and
// initializes it with protocol version (see Session.Initialize).
func (e *RelayEnv) Serve(t testing.TB, version string, opts []client.ClientOption, extra ...string) *Session {
	t.Helper()
	s := Connect(t, Relay(t), e.Environ(extra...), []string{"serve"}, opts...)
	s.Initialize(t, version)
	return s
}

// Failed is the exit code Says and Prints take for any but 0.
const Failed = -1

// Says runs relay cmd (its arguments, split on spaces), which must exit
// with code (or Failed) and write each of want on stderr; it returns
// stderr.
func (e *RelayEnv) Says(t testing.TB, code int, cmd string, want ...string) string {
	t.Helper()
	_, stderr := e.expect(t, code, cmd, false, want)
	return stderr
}

// Prints is Says for stdout; it returns stdout.
func (e *RelayEnv) Prints(t testing.TB, code int, cmd string, want ...string) string {
	t.Helper()
	stdout, _ := e.expect(t, code, cmd, true, want)
	return stdout
}

func (e *RelayEnv) expect(t testing.TB, code int, cmd string, onStdout bool, want []string) (string, string) {
	t.Helper()
	stdout, stderr, got := e.Run(t, strings.Fields(cmd)...)
	where, text := "stderr", stderr
	if onStdout {
		where, text = "stdout", stdout
	}
	ok := got == code || code == Failed && got != 0
	for _, w := range want {
		ok = ok && strings.Contains(text, w)
	}
	if wantCode := fmt.Sprint(code); !ok {
		if code == Failed {
			wantCode = "not 0"
		}
		t.Fatalf("relay %s: exit %d, want %s and %q on %s\nstdout:\n%s\nstderr:\n%s", cmd, got, wantCode, want, where, stdout, stderr)
	}
	return stdout, stderr
}
