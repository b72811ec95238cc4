//go:build linux

package winelane

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestWindowsLaneEndToEnd: relay.exe (the Windows build) under Wine signs in against the Linux backend with its
// authorization server on loopback, through a Windows build of the fake
// browser ($BROWSER), with the vault key in Wine's Credential Manager
// (RELAY_VAULT_KEY unset) and the vault in the default %APPDATA%\keyrelay;
// relay.exe serve answers a tool call over stdio with the stored token;
// relay.exe logout revokes and wipes, and then Credential Manager holds no
// keyrelay item (as another program lists them) and the data directory
// nothing but the vault's lock file. Then a login without $BROWSER goes
// through the system launcher, rundll32.
func TestWindowsLaneEndToEnd(t *testing.T) {
	// Not in parallel with TestWindowsLaneUnits: they share the prefix's
	// Credential Manager, and a vault test's Wipe deletes every item of the
	// service "keyrelay", this test's vault key among them. It runs first
	// (file order), and its build warms the cache for the test binaries.
	w := needWine(t)
	start := time.Now()
	bins := w.buildWindows(t, "./relay", "./internal/fakebrowser/cmd/fakebrowser", "./internal/winelane/testdata/credlist")
	t.Logf("relay.exe, fakebrowser.exe and credlist.exe built in %v", time.Since(start).Round(100*time.Millisecond))
	be := startBackend(t)
	r := &winRelay{w: w, relay: winPath(filepath.Join(bins, "relay.exe")), credlist: winPath(filepath.Join(bins, "credlist.exe")),
		browserLog: filepath.Join(bins, "browser.log")}
	r.vars = []string{"RELAY_BACKEND_URL=" + be.url, "RELAY_LOGIN_TIMEOUT=60s",
		"BROWSER=" + winPath(filepath.Join(bins, "fakebrowser.exe")),
		"FAKEBROWSER_USER=" + be.user, "FAKEBROWSER_PASSWORD=" + be.password, "FAKEBROWSER_LOG=" + winPath(r.browserLog)}
	dataDir := filepath.Join(w.prefix, "drive_c", "users", userName(t, w.prefix), "AppData", "Roaming", "keyrelay")
	if items := r.credentials(t); len(items) != 0 {
		t.Fatalf("Credential Manager holds keyrelay items before the test: %v", items)
	}

	start = time.Now()
	_, stderr, code := r.run(t, "login")
	if code != 0 || !strings.Contains(stderr, "signed in as "+be.user) || r.opens() != 1 {
		t.Fatalf("relay.exe login: exit %d, %d browser opens\n%s", code, r.opens(), stderr)
	}
	t.Logf("relay.exe login: signed in as %s through fakebrowser.exe in %v", be.user, time.Since(start).Round(100*time.Millisecond))
	items := r.credentials(t)
	if len(items) != 1 || !strings.HasPrefix(items[0], "keyrelay:vault-key-") {
		t.Fatalf("Credential Manager lists %v, want the one vault key item keyrelay:vault-key-ID", items)
	}
	t.Logf("credential manager holds the vault key: %s", items[0])
	if out, _, code := r.run(t, "status"); code != 0 || !strings.Contains(out, "logged in as "+be.user) || !strings.Contains(out, "keychain") {
		t.Fatalf("relay.exe status: exit %d\n%s", code, out)
	}
	if names := testkit.DirNames(t, dataDir); !slices.Contains(names, "tokens.age") {
		t.Fatalf("the data directory %s holds %v, want tokens.age in it", dataDir, names)
	}

	start = time.Now()
	who := r.whoami(t)
	if who.Subject != be.user || who.Issuer != be.url {
		t.Fatalf("whoami through relay.exe serve: %+v, want subject %s of %s", who, be.user, be.url)
	}
	if r.opens() != 1 {
		t.Fatalf("relay.exe serve opened the browser: the stored token should have served")
	}
	t.Logf("relay.exe serve: tools/call whoami answered %s (issuer %s) with the stored token in %v", who.Subject, who.Issuer, time.Since(start).Round(100*time.Millisecond))

	_, stderr, code = r.run(t, "logout")
	const loggedOut = "relay: logged out: revoked at the server and wiped here; no credential of keyrelay remains"
	if code != 0 || lastLine(stderr) != loggedOut {
		t.Fatalf("relay.exe logout: exit %d, last line %q\n%s", code, lastLine(stderr), stderr)
	}
	if items := r.credentials(t); len(items) != 0 {
		t.Fatalf("after logout Credential Manager still lists %v", items)
	}
	if names := testkit.DirNames(t, dataDir); len(names) > 1 || (len(names) == 1 && names[0] != "vault.lock") {
		t.Fatalf("after logout the data directory holds %v, want nothing but the lock file", names)
	}
	if out, _, code := r.run(t, "status"); code != 1 || !strings.Contains(out, "logged out") {
		t.Fatalf("relay.exe status after logout: exit %d, want 1\n%s", code, out)
	}
	t.Logf("relay.exe logout: %q; Credential Manager lists no keyrelay item; %%APPDATA%%\\keyrelay holds nothing but the lock file", loggedOut)

	// Without $BROWSER the relay opens the sign-in page as on any Windows:
	// rundll32 url.dll,FileProtocolHandler URL (platform). Wine hands the
	// URL to winebrowser, which runs the Unix browser its registry names:
	// here the fake browser built for Linux.
	if _, stderr, code := r.exec(t, "reg", "add", `HKCU\Software\Wine\WineBrowser`, "/v", "Browsers", "/d", testkit.FakeBrowser(t), "/f"); code != 0 {
		t.Fatalf("reg add WineBrowser: exit %d\n%s", code, stderr)
	}
	r.vars = slices.DeleteFunc(r.vars, func(kv string) bool {
		return strings.HasPrefix(kv, "BROWSER=") || strings.HasPrefix(kv, "FAKEBROWSER_LOG=")
	})
	r.vars = append(r.vars, "FAKEBROWSER_LOG="+r.browserLog)
	if _, stderr, code := r.run(t, "login"); code != 0 || !strings.Contains(stderr, "signed in as "+be.user) || r.opens() != 2 {
		t.Fatalf("relay.exe login through rundll32: exit %d, %d browser opens in all\n%s", code, r.opens(), stderr)
	}
	if _, stderr, code := r.run(t, "logout"); code != 0 || lastLine(stderr) != loggedOut || len(r.credentials(t)) != 0 {
		t.Fatalf("relay.exe logout after the rundll32 login: exit %d\n%s", code, stderr)
	}
	t.Logf("relay.exe login without $BROWSER: rundll32 url.dll,FileProtocolHandler opened the sign-in page (through Wine's winebrowser), signed in; logout left nothing")
}

// buildWindows builds pkgs for windows/amd64 into a new directory, with
// the lane's overlay like the test binaries, so that the Windows standard
// library is compiled once per run, not twice. The overlay only adds a
// fallback for a status Windows never returns (scripts/wine/setup.sh), and
// the relay never calls os.RemoveAll, the one function it serves.
func (w *wine) buildWindows(t *testing.T, pkgs ...string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := w.goWindows(append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)...).CombinedOutput(); err != nil {
		t.Fatalf("go build %v for windows: %v\n%s", pkgs, err, out)
	}
	return dir
}

// backend is the Linux backend with its authorization server.
type backend struct{ url, user, password string }

// startBackend runs the backend binary (for Linux) with its authorization
// server and one user on a free loopback port, with nothing of the test's
// own backend settings.
func startBackend(t *testing.T) *backend {
	t.Helper()
	be := &backend{user: "alice", password: "fake-" + rand.Text()}
	be.url = testkit.StartBackend(t, "BACKEND_AUTH_SERVER=1", "AUTH_USERS="+be.user+":"+be.password)
	return be
}

// winRelay runs relay.exe under Wine.
type winRelay struct {
	w               *wine
	relay, credlist string // Windows paths
	browserLog      string // the fake browser's log (a Linux path)
	vars            []string
}

// env is Wine's environment (prefix, quiet) with the relay's settings and
// nothing else of the test's own but PATH, HOME and USER, which Wine needs.
func (r *winRelay) env() []string {
	env := []string{"WINEPREFIX=" + r.w.prefix, "WINEDEBUG=-all"}
	for _, k := range []string{"PATH", "HOME", "USER", "LOGNAME"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, r.vars...)
}

// run runs a Windows program under Wine to completion, within 2 minutes.
func (r *winRelay) exec(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return testkit.RunCmd(t, r.w.loader, r.env(), args...)
}

// run runs relay.exe with args.
func (r *winRelay) run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return r.exec(t, append([]string{r.relay}, args...)...)
}

// credentials lists the keyrelay items in Credential Manager, through
// credlist.exe.
func (r *winRelay) credentials(t *testing.T) []string {
	t.Helper()
	out, stderr, code := r.exec(t, r.credlist, "keyrelay:")
	if code != 0 {
		t.Fatalf("credlist.exe: exit %d\n%s", code, stderr)
	}
	return strings.Fields(out)
}

// opens counts the fake browser's launches.
func (r *winRelay) opens() int {
	b, _ := os.ReadFile(r.browserLog)
	return strings.Count(string(b), "open\n")
}

// whoamiResult is what the example backend's whoami tool says.
type whoamiResult struct {
	Subject string `json:"subject"`
	Issuer  string `json:"issuer"`
}

// whoami runs relay.exe serve on stdio and calls the whoami tool.
func (r *winRelay) whoami(t *testing.T) whoamiResult {
	t.Helper()
	p := testkit.Start(t, r.w.loader, r.env(), r.relay, "serve")
	p.Send(t, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"winelane","version":"1"}}}`)
	p.Response(t, 60*time.Second, "1")
	p.Send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	p.Send(t, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`)
	m := p.Response(t, 60*time.Second, "2")
	var res struct {
		IsError bool `json:"isError"`
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	}
	if err := json.Unmarshal(m.Result, &res); err != nil || res.IsError || len(res.Content) == 0 {
		t.Fatalf("tools/call whoami: %s\n%s", m.Raw, p.Stderr.String())
	}
	var who whoamiResult
	if err := json.Unmarshal([]byte(res.Content[0].Text), &who); err != nil {
		t.Fatalf("whoami is not JSON: %v: %s", err, res.Content[0].Text)
	}
	return who
}

// winPath is a Linux path as Wine's Windows programs see it (drive Z: is
// the Linux root).
func winPath(p string) string { return `Z:` + strings.ReplaceAll(p, "/", `\`) }

// userName is the Windows user of the prefix: the one profile under
// drive_c/users besides Public (Wine names it after the Unix user).
func userName(t *testing.T, prefix string) string {
	t.Helper()
	var users []string
	for _, n := range testkit.DirNames(t, filepath.Join(prefix, "drive_c", "users")) {
		if n != "Public" {
			users = append(users, n)
		}
	}
	if len(users) != 1 {
		t.Fatalf("the prefix has the user profiles %v, want one", users)
	}
	return users[0]
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}
