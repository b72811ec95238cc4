package main

// The vault key without a keychain (issue 15, point 2): `relay login` with
// RELAY_VAULT_KEY=file:PATH and no file there makes the key; the
// no-keychain error; `relay status` naming what a login would fail on.

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/chain"
	"github.com/keyrelay/keyrelay/internal/testkit/faultfs"
)

// newKeyFile points e at a key file that does not exist yet, in a new
// directory of the user's own (0700), and returns its path.
func (e *relayEnv) newKeyFile(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(e.Home, "keys")
	testkit.NoErr(t, os.Mkdir(dir, 0o700))
	e.KeyFile = filepath.Join(dir, "vault-key.txt")
	e.Vars["RELAY_VAULT_KEY"] = "file:" + e.KeyFile
	return e.KeyFile
}

// createdLine is what `relay login` says when it made the key file p.
func createdLine(p string) string {
	return "relay: created a new vault key at " + p + " (mode 0600); keep it safe: without it the vault cannot be read\n"
}

// wantKeyFile checks that p is a regular 0600 file holding one age
// identity, and returns its content.
func wantKeyFile(t *testing.T, p string) []byte {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %s: %v %v; want a regular file, mode 0600", p, err, fi)
	}
	b, err := os.ReadFile(p)
	testkit.NoErr(t, err)
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if _, err := age.ParseX25519Identity(l); err == nil {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("key file %s holds %d identities, want 1", p, n)
	}
	return b
}

// TestE2E_LoginCreatesTheKeyFileThenReusesIt: `relay status` and `relay
// logout` before the first login create nothing (status says the login
// will); `relay login` with RELAY_VAULT_KEY=file:PATH and no file there
// makes a new age identity at PATH (0600), says so in one line without
// the key, and signs in for real; status then reads the tokens with it.
// Later logins, and the first login after a logout, reuse the file as it
// is.
func TestE2E_LoginCreatesTheKeyFileThenReusesIt(t *testing.T) {
	_, e := backendEnv(t)
	p := e.newKeyFile(t)
	if out := e.Prints(t, 1, "status", "note:        the key file "+p+" does not exist yet; the first login creates it\n"); strings.Contains(out, "problem:") {
		t.Fatalf("status before the first login:\n%s", out)
	}
	e.Run(t, "logout")
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Fatalf("status or logout made the key file: %v", err)
	}

	stderr := e.Says(t, 0, "login", "relay: signed in as alice")
	if strings.Count(stderr, createdLine(p)) != 1 || strings.Contains(stderr, "AGE-SECRET-KEY") {
		t.Fatalf("first login: not one line about the key, or the key printed\n%s", stderr)
	}
	key := wantKeyFile(t, p)
	if r := e.stored(t); r == nil || r.Subject != chain.User {
		t.Fatalf("the tokens are not stored under the new key: %+v", r)
	}
	if out := e.Prints(t, 0, "status", "logged in as alice"); strings.Contains(out, "note:") || strings.Contains(out, "problem:") {
		t.Fatalf("status after the first login:\n%s", out)
	}

	for _, cmd := range []string{"login --force", "logout", "login"} {
		if stderr := e.Says(t, 0, cmd); strings.Contains(stderr, "created a new vault key") {
			t.Fatalf("relay %s made a key\n%s", cmd, stderr)
		}
		if now, _ := os.ReadFile(p); !bytes.Equal(now, key) {
			t.Fatalf("relay %s changed the key file", cmd)
		}
	}
	if e.opens() != 3 || e.stored(t) == nil {
		t.Fatalf("%d browser opens, want 3 (login, login --force, login after logout)", e.opens())
	}
}

// TestE2E_ServeFirstSignInCreatesTheKeyFile: the stdio server, started by
// Claude Code with RELAY_VAULT_KEY=file:PATH, makes the key at its first
// sign-in too (it is the same first login), and logs that it did.
func TestE2E_ServeFirstSignInCreatesTheKeyFile(t *testing.T) {
	_, e := backendEnv(t)
	p := e.newKeyFile(t)
	s := e.start()
	s.whoami(t)
	wantKeyFile(t, p)
	if log := s.Stderr.String(); !strings.Contains(log, "created a new vault key at "+p) || strings.Contains(log, "AGE-SECRET-KEY") {
		t.Fatalf("serve's log:\n%s", testkit.Tail(log))
	}
}

// TestE2E_LoginRefusesAKeyFileOthersCouldSwap: no key file is made in a
// directory that group or other can write (a /tmp-like one too), or that
// another user owns: `relay login` fails before any browser opens, names
// the directory and the fix, and leaves nothing; `relay status` names the
// same problem beforehand.
func TestE2E_LoginRefusesAKeyFileOthersCouldSwap(t *testing.T) {
	c := chain.Start(t, chain.Options{})
	for _, tc := range []struct {
		name, want string
		setup      func(t *testing.T, dir string)
	}{
		{"group-writable", "is writable by group or other users (mode 0770)", func(t *testing.T, d string) { os.Chmod(d, 0o770) }},
		{"world-writable", "is writable by group or other users (mode 0777)", func(t *testing.T, d string) { os.Chmod(d, 0o777) }},
		{"sticky like /tmp", "is writable by group or other users (mode 0777)", func(t *testing.T, d string) { os.Chmod(d, fs.ModeSticky|0o777) }},
		{"another user's", "is owned by uid 65534", func(t *testing.T, d string) { testkit.ChownToOther(t, d) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRelayEnv(t, c)
			p := e.newKeyFile(t)
			dir := filepath.Dir(p)
			tc.setup(t, dir)
			e.Prints(t, 1, "status", "problem:     vault: cannot create key file "+p+": platform: refusing "+dir+": it "+tc.want)
			testkit.Contains(t, "login", errorLine(t, e.Says(t, testkit.Failed, "login")), dir+": it "+tc.want)
			if ents, _ := os.ReadDir(dir); len(ents) != 0 || e.opens() != 0 || e.hasTokens() {
				t.Fatalf("a refused key file left %d files, %d browser opens", len(ents), e.opens())
			}
		})
	}
}

// TestE2E_KeyFileOnAFullDiskLeavesNothing: the key's directory is full (a
// real tmpfs): `relay login` fails with the cause before any browser
// opens and leaves no file there, partial or temporary; with space again,
// it makes the key and signs in.
func TestE2E_KeyFileOnAFullDiskLeavesNothing(t *testing.T) {
	_, e := backendEnv(t)
	dir := filepath.Join(e.Home, "keys")
	faultfs.MountTmpfs(t, dir)
	e.KeyFile = filepath.Join(dir, "vault-key.txt")
	e.Vars["RELAY_VAULT_KEY"] = "file:" + e.KeyFile
	free := faultfs.Fill(t, dir)
	testkit.Contains(t, "login on a full disk", errorLine(t, e.Says(t, testkit.Failed, "login")), "no space left on device")
	if ents, _ := os.ReadDir(dir); len(ents) != 1 || ents[0].Name() != faultfs.FillerName || e.opens() != 0 {
		t.Fatalf("the full directory holds %v; %d browser opens", ents, e.opens())
	}
	free()
	e.mustCLI(t, "login")
	wantKeyFile(t, e.KeyFile)
}

// TestE2E_NoKeychainErrorIsThreeLinesThatWork: with no D-Bus session bus
// and no RELAY_VAULT_KEY, `relay status` names the problem and `relay
// login` fails in three lines: what is wrong, then one line per choice.
// The key-file line, pasted into a shell before `relay login`, makes the
// key in the home directory and signs in.
func TestE2E_NoKeychainErrorIsThreeLinesThatWork(t *testing.T) {
	if _, err := os.Stat(filepath.Join("/run/user", strconv.Itoa(os.Getuid()), "bus")); err == nil {
		testkit.SkipOrFail(t, "this user has a session bus in /run/user: the relay would find it")
	}
	_, e := backendEnv(t)
	delete(e.Vars, "RELAY_VAULT_KEY")
	e.Vars["XDG_RUNTIME_DIR"] = t.TempDir() // no bus there
	keyFile := filepath.Join(e.Home, ".keyrelay-key")
	fileLine := "  export RELAY_VAULT_KEY=file:" + keyFile + "  # created at first login"
	e.Prints(t, 1, "status", "problem:     no OS keychain in this session (no D-Bus session bus), and no other key source: set RELAY_VAULT_KEY=file:"+keyFile)
	if e.Says(t, testkit.Failed, "login", "relay: error: no OS keychain in this session (no D-Bus session bus); choose a key source:\n"+
		fileLine+"\n"+"  export RELAY_VAULT_KEY=passphrase  # asked at login\n"); e.opens() != 0 {
		t.Fatalf("login without a keychain: %d browser opens", e.opens())
	}

	sh := exec.Command("sh", "-c", fileLine+"\nexec \"$RELAY\" login")
	sh.Env = e.Environ("RELAY=" + testkit.Relay(t))
	var errb bytes.Buffer
	sh.Stderr = &errb
	if err := sh.Run(); err != nil || !strings.Contains(errb.String(), createdLine(keyFile)) || !strings.Contains(errb.String(), "signed in as alice") {
		t.Fatalf("the pasted line: %v\n%s", err, errb.String())
	}
	wantKeyFile(t, keyFile)
}

// `relay status` tells the truth (issue 15, points 2 and 6b-6d): it names
// what a login would fail on with the key source, says "locked" for a
// passphrase vault it cannot open, says it waits for the vault only while
// another relay holds it, and shows the authorization server a sign-in
// found through the backend.

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
			if tc.want == "" {
				if e.Says(t, 0, "login"); strings.Contains(out, "problem:") {
					t.Fatalf("status:\n%s", out)
				}
				return
			}
			testkit.Contains(t, "status names no problem", out, "problem:", tc.want)
			errorLine(t, e.Says(t, testkit.Failed, "login", tc.want))
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
