package main

// `relay status` tells the truth (issue 15, points 2 and 6b-6d): it names
// what a login would fail on with the key source, says "locked" for a
// passphrase vault it cannot open, says it waits for the vault only while
// another relay holds it, and shows the authorization server a sign-in
// found through the backend.

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/chain"
)

// statusJSON runs `relay status --json` and decodes it.
func (e *relayEnv) statusJSON(t *testing.T) map[string]any {
	t.Helper()
	out, stderr, _ := e.Run(t, "status", "--json")
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("status --json: %v\n%s\n%s", err, out, stderr)
	}
	return m
}

// TestE2E_StatusNamesWhatLoginWouldFailOn: for each key source set-up,
// `relay status` names a problem exactly when the first `relay login`
// fails, and the problem says what the login's error says (a real
// gnome-keyring for the keychain cases).
func TestE2E_StatusNamesWhatLoginWouldFailOn(t *testing.T) {
	ss := testkit.StartSecretService(t)
	c := chain.Start(t, chain.Options{})
	failing := testkit.WriteTemp(t, "keycmd", "#!/bin/sh\nexit 3\n", 0o700)
	for _, tc := range []struct {
		name string
		vars map[string]string // "" deletes
		lock bool              // lock the keychain first
		want string            // the problem; "" for none
	}{
		{"keychain", map[string]string{"RELAY_VAULT_KEY": "", "DBUS_SESSION_BUS_ADDRESS": ss.Addr}, false, ""},
		{"key file to create", map[string]string{"RELAY_VAULT_KEY": "file:NEW"}, false, ""},
		{"failing key command", map[string]string{"RELAY_VAULT_KEY": "cmd:" + failing}, false, "exit status 3"},
		{"group-readable key file", map[string]string{"RELAY_VAULT_KEY": "file:LOOSE"}, false, "is accessible by group or other users (mode 0644)"},
		{"weak passphrase file", map[string]string{"RELAY_VAULT_KEY": "passphrase", "RELAY_VAULT_PASSPHRASE_FILE": passphraseFile(t, weakPassphrase)}, false, "passphrase too weak"},
		{"keychain required, no bus", map[string]string{"RELAY_VAULT_KEY": "keychain", "XDG_RUNTIME_DIR": t.TempDir()}, false, "no D-Bus session bus"},
		{"keychain locked", map[string]string{"RELAY_VAULT_KEY": "", "DBUS_SESSION_BUS_ADDRESS": ss.Addr}, true, "keychain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRelayEnv(t, c)
			for k, v := range tc.vars {
				switch v {
				case "":
					delete(e.Vars, k)
				case "file:NEW":
					e.newKeyFile(t)
				case "file:LOOSE":
					testkit.NoErr(t, os.Chmod(e.KeyFile, 0o644))
				default:
					e.Vars[k] = v
				}
			}
			if tc.lock {
				ss.Lock(t)
			}
			out, _, _ := e.Run(t, "status")
			_, stderr, code := e.Run(t, "login")
			if tc.want == "" {
				if strings.Contains(out, "problem:") || code != 0 {
					t.Fatalf("status:\n%s\nlogin: exit %d\n%s", out, code, stderr)
				}
				return
			}
			testkit.Contains(t, "status names no problem", out, "problem:", tc.want)
			if line := errorLine(t, stderr); code == 0 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("login: exit %d, %q\n%s", code, line, stderr)
			}
		})
	}
}

// TestE2E_StatusSaysLockedForAPassphraseVault (6b): tokens stored under a
// passphrase, and no passphrase file: status says "locked: needs the
// passphrase", not "logged out", and asks for nothing; with the file it
// reads them.
func TestE2E_StatusSaysLockedForAPassphraseVault(t *testing.T) {
	c := chain.Start(t, chain.Options{})
	e := newPassphraseEnv(t, c)
	pass := passphraseFile(t, strongPassphrase)
	e.mustCLI(t, "login", "--passphrase-file", pass)
	out, stderr, _ := e.Run(t, "status")
	if !strings.Contains(out, "status:      locked: needs the passphrase\n") || strings.Contains(out, "logged out") ||
		strings.Contains(out, "problem:") || strings.Contains(stderr, "passphrase:") {
		t.Fatalf("status of a passphrase vault:\n%s\n%s", out, stderr)
	}
	if m := e.statusJSON(t); m["state"] != "locked" || m["logged_in"] != false {
		t.Fatalf("status --json: %v", m)
	}
	e.Vars["RELAY_VAULT_PASSPHRASE_FILE"] = pass
	e.Prints(t, 0, "status", "logged in as alice")
}

const waitingLine = "relay: waiting for the vault: another relay may be signing in..."

// TestE2E_StatusSaysWaitingOnlyWhileAnotherRelayHoldsTheVault (6c): a
// keychain that answers nothing makes status slow (its 3 s timeout), but
// status does not claim another relay is signing in: it names the
// keychain. While another relay holds the vault for a sign-in, status
// says it waits, then reports the stored tokens.
func TestE2E_StatusSaysWaitingOnlyWhileAnotherRelayHoldsTheVault(t *testing.T) {
	ss := testkit.StartSecretService(t)
	c := chain.Start(t, chain.Options{})
	e := newRelayEnv(t, c)
	e.useKeychain(ss)
	e.mustCLI(t, "login")
	ss.Freeze(t)
	start := time.Now()
	out, stderr, _ := e.Run(t, "status")
	if took := time.Since(start); took < 2*time.Second || strings.Contains(stderr, "waiting for the vault") ||
		!strings.Contains(out, "problem:") || !strings.Contains(out, "no answer within") {
		t.Fatalf("status with a silent keychain (%v):\n%s\n%s", took, out, stderr)
	}

	e2 := newRelayEnv(t, c)
	e2.mustCLI(t, "login")
	p := e2.Start(t, []string{"login", "--force"}, "FAKEBROWSER_IGNORE=1", "RELAY_LOGIN_TIMEOUT=4s")
	testkit.Poll(t, 30*time.Second, "the second login to wait for the browser", func() bool {
		return strings.Contains(p.Stderr.String(), "/authorize?")
	})
	out, stderr, _ = e2.Run(t, "status")
	if !strings.Contains(stderr, waitingLine) || !strings.Contains(out, "logged in as alice") {
		t.Fatalf("status while another relay signs in:\n%s\n%s", out, stderr)
	}
	if !p.Exited(30 * time.Second) {
		t.Fatal("the ignored login did not give up")
	}
}

// TestE2E_StatusShowsTheDiscoveredAuthServer (6d): with only
// RELAY_BACKEND_URL set, the sign-in finds the authorization server
// through the backend; status then shows it, not "(unknown)".
func TestE2E_StatusShowsTheDiscoveredAuthServer(t *testing.T) {
	c, e := backendEnv(t)
	delete(e.Vars, "RELAY_AUTH_SERVER_URL")
	e.Prints(t, 1, "status", "auth server: (found through the backend at sign-in)\n")
	e.mustCLI(t, "login")
	e.Prints(t, 0, "status", "logged in as alice", "auth server: "+c.URL+" (found through the backend)\n")
	if m := e.statusJSON(t); m["auth_server"] != c.URL || m["auth_server_found"] != true {
		t.Fatalf("status --json: %v", m)
	}
}
