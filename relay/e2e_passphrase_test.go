package main

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
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

// wantNotRevoked is exitNotRevoked, README's exit code 5.
const wantNotRevoked = 5

// TestF8_LogoutSaysWhenNotRevoked: a logout that wipes everything here
// but did not revoke the sign-in at the server says so in its last line
// and exits 5: a passphrase vault with no passphrase file and no terminal
// (stdin is /dev/null), and a server that fails the revocation. With
// RELAY_VAULT_PASSPHRASE_FILE the same logout revokes and exits 0.
func TestF8_LogoutSaysWhenNotRevoked(t *testing.T) {
	var revocations atomic.Int64
	var failRevoke atomic.Bool
	c := chain.Start(t, chain.Options{Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/revoke" {
				revocations.Add(1)
				if failRevoke.Load() {
					http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
					return
				}
			}
			h.ServeHTTP(w, r)
		})
	}})
	e := newPassphraseEnv(t, c)
	pass := passphraseFile(t, strongPassphrase)
	login := func() { t.Helper(); e.Says(t, 0, "login --passphrase-file "+pass) }

	login()
	stderr := e.Says(t, wantNotRevoked, "logout", "stdin is not a terminal; set RELAY_VAULT_PASSPHRASE_FILE") // no passphrase, no terminal
	testkit.Contains(t, "the last line", lastLine(stderr), "wiped here, but NOT revoked at the server")
	if strings.Contains(stderr, "inappropriate ioctl") || revocations.Load() != 0 {
		t.Errorf("the skipped revocation should say why plainly, and send nothing (%d revocation requests):\n%s", revocations.Load(), stderr)
	}
	wantWiped(t, e.Dir)

	login()
	failRevoke.Store(true)
	stderr = e.Says(t, wantNotRevoked, "logout --passphrase-file "+pass)
	if !strings.Contains(lastLine(stderr), "NOT revoked at the server") || revocations.Load() != 1 {
		t.Errorf("logout with a failing server: %d revocations\n%s", revocations.Load(), stderr)
	}
	wantWiped(t, e.Dir)

	login()
	failRevoke.Store(false)
	e.Vars["RELAY_VAULT_PASSPHRASE_FILE"] = pass
	stderr = e.Says(t, 0, "logout", "was revoked")
	if lastLine(stderr) != "relay: logged out: revoked at the server and wiped here; no credential of keyrelay remains" || revocations.Load() != 2 {
		t.Errorf("logout with RELAY_VAULT_PASSPHRASE_FILE: %d revocation requests, want 2\n%s", revocations.Load(), stderr)
	}
	wantWiped(t, e.Dir)

	// nothing stored: nothing to revoke
	if stderr := e.Says(t, 0, "logout"); lastLine(stderr) != "relay: logged out; no credential of keyrelay remains" {
		t.Errorf("logout with nothing stored:\n%s", stderr)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// wantWiped fails unless dir holds no vault file.
func wantWiped(t *testing.T, dir string) {
	t.Helper()
	for _, f := range []string{"tokens.age", "key.age", "vault.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived logout: %v", f, err)
		}
	}
}
