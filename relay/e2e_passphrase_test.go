package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/chain"
)

// A passphrase that clears the floor, and one that does not (F6).
const (
	strongPassphrase = "fake staple horse battery correct"
	weakPassphrase   = "hunter2"
)

// newPassphraseEnv is a relay configuration against c whose vault key is
// wrapped with a passphrase (RELAY_VAULT_KEY=passphrase).
func newPassphraseEnv(t *testing.T, c *chain.Server) *relayEnv {
	e := newRelayEnv(t, c)
	e.Vars["RELAY_VAULT_KEY"] = "passphrase"
	return e
}

// passphraseFile writes pass to a file of the user's own (0600).
func passphraseFile(t *testing.T, pass string) string {
	return testkit.WriteTemp(t, "passphrase", pass+"\n", 0o600)
}

// TestF6_LoginRefusesWeakPassphrase: a new vault refuses a weak
// passphrase, from RELAY_VAULT_PASSPHRASE_FILE (login and serve) or typed
// at the prompt, before any browser opens and without writing a vault;
// the error says what is wanted. The prompt reads "New vault passphrase: ",
// with one colon.
func TestF6_LoginRefusesWeakPassphrase(t *testing.T) {
	c := chain.Start(t, chain.Options{})
	e := newPassphraseEnv(t, c)
	weak := passphraseFile(t, weakPassphrase)

	e.Says(t, exitUsage, "login --passphrase-file "+weak, "passphrase too weak", "want at least 15 characters")
	text, isErr := e.start("RELAY_VAULT_PASSPHRASE_FILE="+weak).Call(t, "whoami", nil)
	if !isErr || !strings.Contains(text, "passphrase too weak") {
		t.Errorf("serve with a weak passphrase file: %s", text)
	}
	stderr, code := e.loginOnTTY(t, weakPassphrase)
	if code != exitUsage || !strings.Contains(stderr, "New vault passphrase: ") || strings.Contains(stderr, "Repeat") ||
		!strings.Contains(stderr, "passphrase too weak") {
		t.Errorf("login with a weak typed passphrase: exit %d, want %d, refused before the repeat\n%s", code, exitUsage, stderr)
	}
	if e.opens() != 0 {
		t.Errorf("a weak passphrase opened the browser %d times", e.opens())
	}
	for _, f := range []string{"key.age", "vault.json", "tokens.age"} {
		if _, err := os.Stat(filepath.Join(e.Dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused passphrase left %s: %v", f, err)
		}
	}

	stderr, code = e.loginOnTTY(t, strongPassphrase, strongPassphrase)
	if code != 0 || !strings.Contains(stderr, "signed in as alice") || !strings.Contains(stderr, "New vault passphrase: \nRepeat the new passphrase: \n") {
		t.Errorf("login with a good typed passphrase: exit %d\n%s", code, stderr)
	}
	if strings.Contains(stderr, ": :") {
		t.Errorf("a doubled colon in the prompt:\n%s", stderr)
	}
	if _, err := os.Stat(filepath.Join(e.Dir, "key.age")); err != nil {
		t.Errorf("no passphrase vault after the login: %v", err)
	}
}

// loginOnTTY runs `relay login` with a terminal as stdin, without a
// passphrase file, and types each answer once the relay has asked for it.
// It returns the relay's stderr and exit code; -1 when the relay asked
// once more than there were answers (it is then killed).
func (e *relayEnv) loginOnTTY(t *testing.T, answers ...string) (string, int) {
	t.Helper()
	master, tty := testkit.OpenPTY(t)
	cmd := exec.Command(testkit.Relay(t), "login")
	cmd.Env = e.Environ()
	var stderr testkit.Buffer
	cmd.Stdin, cmd.Stderr = tty, &stderr
	testkit.NoErr(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	ended := func() bool {
		select {
		case <-exited:
			return true
		default:
			return false
		}
	}
	asked := func(n int) func() bool {
		return func() bool { return ended() || strings.Count(stderr.String(), "passphrase: ") >= n }
	}
	for i, a := range answers {
		testkit.Poll(t, 30*time.Second, "the passphrase prompt", asked(i+1))
		if ended() {
			break
		}
		_, err := master.WriteString(a + "\n")
		testkit.NoErr(t, err)
	}
	testkit.Poll(t, 60*time.Second, "relay login to end", asked(len(answers)+1))
	if !ended() {
		_ = cmd.Process.Kill()
		<-exited
		return stderr.String(), -1
	}
	return stderr.String(), cmd.ProcessState.ExitCode()
}
