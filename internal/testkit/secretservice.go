//go:build unix

package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// SecretService is a gnome-keyring Secret Service on a private D-Bus
// session bus, for one test: its login keyring is throwaway (in a
// temporary XDG_DATA_HOME) and unlocked, and no other test's keychain
// items can be touched by it, nor it by them. It can be locked or frozen.
type SecretService struct {
	// Addr is the bus address: DBUS_SESSION_BUS_ADDRESS for a client.
	Addr   string
	daemon *exec.Cmd
	conn   *dbus.Conn
}

const loginCollection = dbus.ObjectPath("/org/freedesktop/secrets/collection/login")

// StartSecretService starts dbus-daemon and gnome-keyring-daemon, waits
// until the login collection is unlocked, and stops both when the test
// ends. Without them the test skips; it fails instead under CI=true or
// inside scripts/with-secret-service.sh (KEYRELAY_SECRET_SERVICE=1),
// where a Secret Service was promised.
func StartSecretService(t testing.TB) *SecretService {
	t.Helper()
	for _, bin := range []string{"dbus-daemon", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(bin); err != nil {
			needSecretService(t, bin+" not found: this test needs a real Secret Service (apt-get install dbus gnome-keyring)")
		}
	}
	// A short directory: a unix socket path is limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "kr-ss")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	s := &SecretService{Addr: "unix:path=" + filepath.Join(dir, "bus")}
	startKilled(t, exec.Command("dbus-daemon", "--session", "--nofork", "--nopidfile", "--address="+s.Addr))
	Poll(t, 10*time.Second, "the private D-Bus to accept connections", func() bool {
		s.conn, err = dbus.Connect(s.Addr)
		return err == nil
	})
	t.Cleanup(func() { s.conn.Close() })
	s.daemon = exec.Command("gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets")
	s.daemon.Env = append(os.Environ(), s.Env(), "XDG_RUNTIME_DIR="+run, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "HOME="+dir)
	s.daemon.Stdin = strings.NewReader("fake-keyring-password") // the throwaway login keyring's password
	startKilled(t, s.daemon)
	Poll(t, 10*time.Second, "gnome-keyring to unlock its login collection", func() bool {
		locked, err := s.locked()
		return err == nil && !locked
	})
	return s
}

func needSecretService(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("KEYRELAY_SECRET_SERVICE") == "1" {
		t.Fatal(msg + " (KEYRELAY_SECRET_SERVICE=1)")
	}
	SkipOrFail(t, msg)
}

// startKilled starts cmd and kills it, by its pid, when the test ends.
func startKilled(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

// Env is the variable that points a client at this Secret Service.
func (s *SecretService) Env() string { return "DBUS_SESSION_BUS_ADDRESS=" + s.Addr }

// locked asks without D-Bus activation: a call for a name nobody owns yet
// would make the bus start a gnome-keyring-daemon of its own, from the
// system's service file, with the test's real HOME and no unlocked login
// keyring; it would win the name from the one started here, and outlive
// the test.
func (s *SecretService) locked() (bool, error) {
	var v dbus.Variant
	err := s.conn.Object("org.freedesktop.secrets", loginCollection).
		Call("org.freedesktop.DBus.Properties.Get", dbus.FlagNoAutoStart, "org.freedesktop.Secret.Collection", "Locked").Store(&v)
	if err != nil {
		return false, err
	}
	b, ok := v.Value().(bool)
	if !ok {
		return false, fmt.Errorf("the Locked property is a %T", v.Value())
	}
	return b, nil
}

// Lock locks the login collection, as a desktop does on screen lock.
func (s *SecretService) Lock(t testing.TB) {
	t.Helper()
	err := s.conn.Object("org.freedesktop.secrets", "/org/freedesktop/secrets").
		Call("org.freedesktop.Secret.Service.Lock", 0, []dbus.ObjectPath{loginCollection}).Err
	if err != nil {
		t.Fatal(err)
	}
	if locked, err := s.locked(); err != nil || !locked {
		t.Fatalf("the login collection did not lock: %v", err)
	}
}

// Freeze stops the daemon (SIGSTOP): it keeps its bus name and answers
// nothing, like a keyring waiting on an unlock dialog nobody sees.
func (s *SecretService) Freeze(t testing.TB) {
	t.Helper()
	if err := s.daemon.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
}

// SecretTool returns secret-tool with args, run against this Secret
// Service: a client other than the one under test.
func (s *SecretService) SecretTool(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	if _, err := exec.LookPath("secret-tool"); err != nil {
		needSecretService(t, "secret-tool not found (apt-get install libsecret-tools)")
	}
	cmd := exec.Command("secret-tool", args...)
	cmd.Env = append(os.Environ(), s.Env())
	return cmd
}
