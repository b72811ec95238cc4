package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/fakebrowser"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestE2E_DefaultSetupStepUp runs the default set-up that the README
// describes and `make demo` runs: the backend binary with its built-in
// authorization server, and a relay with only RELAY_BACKEND_URL set, so it
// discovers the server and registers itself. The first sign-in must not
// get admin, and admin_stats must then lead to exactly one step-up (issue
// 14, F1: the registered client got every scope, admin included, and the
// e2e tests, which pin RELAY_CLIENT_ID=relay, never saw it).
func TestE2E_DefaultSetupStepUp(t *testing.T) {
	url, e := startDefaultSetup(t)
	s := e.Serve(t, "", nil)

	who := whoamiOf(t, s.MustCall(t, "whoami", nil))
	if !strings.HasPrefix(who.ClientID, "dyn-") || who.Issuer != url {
		t.Fatalf("not the default set-up (a registered client, the discovered issuer): %+v", who)
	}
	if slices.Contains(who.Scopes, "admin") || !slices.Contains(who.Scopes, "notes:read") || e.opens() != 1 {
		t.Fatalf("first sign-in: scopes %v after %d browser opens; want notes:read and notes:write without admin, one open", who.Scopes, e.opens())
	}
	testkit.Contains(t, "admin_stats", s.MustCall(t, "admin_stats", nil), "uptime_seconds")
	e.wantOpens(t, 2, "admin_stats (the sign-in, then one step-up)")
	after := whoamiOf(t, s.MustCall(t, "whoami", nil))
	if !slices.Contains(after.Scopes, "admin") || after.ClientID != who.ClientID {
		t.Fatalf("after the step-up: %+v", after)
	}
	s.MustCall(t, "admin_stats", nil)
	e.wantOpens(t, 2, "a second admin_stats")
}

// TestE2E_DefaultSetupSignsInAfterFloods: the floods of issue 14, F2, sent
// from the relay's own address to the backend binary's built-in server,
// then a relay of the default set-up signs in. 10,000 GET /authorize used
// to make every sign-in answer 503 for 10 minutes, 10,000 POST
// /device_authorization blocked the device grant, and 100 POST /register
// made a default relay fail with "too many registered clients".
func TestE2E_DefaultSetupSignsInAfterFloods(t *testing.T) {
	base, e := startDefaultSetup(t)
	challenge := strings.Repeat("A", 43)
	authorize := base + "/authorize?" + url.Values{"client_id": {"relay"}, "redirect_uri": {"http://127.0.0.1:1/callback"},
		"response_type": {"code"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}.Encode()
	for _, f := range []struct {
		n                        int
		method, url, ctype, body string
		want                     int
	}{
		{10000, "GET", authorize, "", "", http.StatusSeeOther},
		{10000, "POST", base + "/device_authorization", "application/x-www-form-urlencoded", "client_id=relay", http.StatusOK},
		{200, "POST", base + "/register", "application/json", `{"redirect_uris":["http://127.0.0.1/callback"]}`, http.StatusCreated},
	} {
		if got := flood(t, f.n, f.method, f.url, f.ctype, f.body); got[f.want] != f.n {
			t.Errorf("%s %s: answers %v, want %d × %d", f.method, f.url, got, f.n, f.want)
		}
	}
	s := e.Serve(t, "", nil)
	if who := whoamiOf(t, s.MustCall(t, "whoami", nil)); !strings.HasPrefix(who.ClientID, "dyn-") || e.opens() != 1 {
		t.Fatalf("after the floods: %+v, %d browser opens", who, e.opens())
	}
}

// flood sends n requests from 8 goroutines and counts the answers by
// status.
func flood(t *testing.T, n int, method, u, ctype, body string) map[int]int {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer c.CloseIdleConnections()
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				req, _ := http.NewRequest(method, u, strings.NewReader(body))
				if ctype != "" {
					req.Header.Set("Content-Type", ctype)
				}
				status := 0
				if resp, err := c.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				mu.Lock()
				got[status]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return got
}

// startDefaultSetup starts the backend binary with its built-in
// authorization server, and returns its URL (the issuer's too) and a relay
// configured with RELAY_BACKEND_URL alone (plus its test home, vault key
// file and the fake browser). extra are more settings for the backend.
func startDefaultSetup(t *testing.T, extra ...string) (string, *relayEnv) {
	t.Helper()
	const user, password = "alice", "alice-e2e-password"
	url := testkit.StartBackend(t, append([]string{"BACKEND_AUTH_SERVER=1", "AUTH_USERS=" + user + ":" + password}, extra...)...)
	return url, bareEnv(t, map[string]string{"RELAY_BACKEND_URL": url, "RELAY_LOGIN_TIMEOUT": "30s",
		"FAKEBROWSER_USER": user, "FAKEBROWSER_PASSWORD": password})
}

// whoamiAnswer is what the example backend's whoami tool says.
type whoamiAnswer struct {
	ClientID string   `json:"client_id"`
	Issuer   string   `json:"issuer"`
	Scopes   []string `json:"scopes"`
}

func whoamiOf(t *testing.T, out string) whoamiAnswer {
	t.Helper()
	var w whoamiAnswer
	if err := json.Unmarshal([]byte(out), &w); err != nil {
		t.Fatalf("whoami is not JSON: %v: %s", err, out)
	}
	return w
}

// Issue 15, point 5: an interactive `relay login` on a terminal showed
// structured log lines (time=… level=…) between its own lines, and the
// sign-in URL twice (the prompt, and a warning record). On a terminal at
// the default level a person now sees only the friendly lines, the URL
// once; RELAY_LOG_LEVEL=debug shows every record; with stderr a pipe the
// records are there as before. Each runs the built relay through a whole
// sign-in against the backend binary with its authorization server.

// loginRun is `relay login` run as a person runs it: stdin and stdout a
// pseudo-terminal, and stderr the terminal too, or a pipe.
type loginRun struct {
	cmd    *exec.Cmd
	tty    *os.File
	screen *testkit.Buffer // what the terminal shows
	stderr *testkit.Buffer // stderr, when it is a pipe
	read   chan struct{}   // closed when the terminal has been read to its end
	exited chan struct{}
}

func startLogin(t *testing.T, env []string, stderrPipe bool) *loginRun {
	t.Helper()
	master, tty := testkit.OpenPTY(t)
	r := &loginRun{tty: tty, screen: &testkit.Buffer{}, stderr: &testkit.Buffer{},
		read: make(chan struct{}), exited: make(chan struct{})}
	go func() { _, _ = io.Copy(r.screen, master); close(r.read) }() // ends with EIO once no one holds the tty
	r.cmd = exec.Command(testkit.Relay(t), "login")
	r.cmd.Env = env
	r.cmd.Stdin, r.cmd.Stdout, r.cmd.Stderr = tty, tty, tty
	if stderrPipe {
		r.cmd.Stderr = r.stderr
	}
	testkit.NoErr(t, r.cmd.Start())
	go func() { _ = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() {
		select {
		case <-r.exited:
		default:
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
	})
	return r
}

// text is what the terminal shows so far, its line ends (\r\n) as \n.
func (r *loginRun) text() string { return strings.ReplaceAll(r.screen.String(), "\r\n", "\n") }

// wait waits for relay login to exit 0 and returns the whole screen.
func (r *loginRun) wait(t *testing.T) string {
	t.Helper()
	select {
	case <-r.exited:
	case <-time.After(time.Minute):
		t.Fatalf("relay login did not finish within a minute; the screen:\n%s%s", r.text(), r.stderr.String())
	}
	r.tty.Close() // the last holder of the terminal: the reader gets the rest, then EIO
	<-r.read
	if code := r.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("relay login exited %d; the screen:\n%s%s", code, r.text(), r.stderr.String())
	}
	return r.text()
}

// await polls the screen until re matches it, and returns the submatches.
func (r *loginRun) await(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	var m []string
	if !testkit.Eventually(30*time.Second, func() bool { m = re.FindStringSubmatch(r.text()); return m != nil }) {
		t.Fatalf("the screen never showed %s:\n%s", re, r.text())
	}
	return m
}

// friendlyOnly fails unless screen has no structured record and shows url
// (and code, if any) exactly once.
func friendlyOnly(t *testing.T, screen string, once ...string) {
	t.Helper()
	if strings.Contains(screen, "level=") || strings.Contains(screen, "time=") || strings.Contains(screen, "component=") {
		t.Errorf("a structured log record on the terminal at the default level:\n%s", screen)
	}
	for _, s := range once {
		if n := strings.Count(screen, s); n != 1 {
			t.Errorf("%q is on the screen %d times, want once:\n%s", s, n, screen)
		}
	}
}

// withoutLogLevel is e's environment with RELAY_LOG_LEVEL unset (the
// default, info), then extra.
func withoutLogLevel(e *relayEnv, extra ...string) []string {
	delete(e.Vars, "RELAY_LOG_LEVEL")
	return e.Environ(extra...)
}

var (
	browserPrompt = `relay: opening your browser to sign in\. If it does not open, visit:\n\n  (\S+)\n\n`
	signedIn      = `relay: signed in as alice\b[^\n]*\n`
)

func TestE2E_LoginOnATerminal(t *testing.T) {
	t.Run("browser", func(t *testing.T) {
		url, e := startDefaultSetup(t)
		screen := startLogin(t, withoutLogLevel(e), false).wait(t)
		m := regexp.MustCompile(`^` + browserPrompt + `relay: the authorization server is ` + regexp.QuoteMeta(url) + `\n` + signedIn + `$`).
			FindStringSubmatch(screen)
		if m == nil {
			friendlyOnly(t, screen)
			t.Fatalf("the screen is not the prompt, the server and the sign-in:\n%s", screen)
		}
		if !strings.HasPrefix(m[1], url+"/authorize?") || e.opens() != 1 {
			t.Fatalf("URL %q, %d browser opens", m[1], e.opens())
		}
		friendlyOnly(t, screen, m[1])
	})

	t.Run("no-browser-device-grant", func(t *testing.T) {
		url, e := startDefaultSetup(t)
		delete(e.Vars, "BROWSER") // and no DISPLAY: the device grant
		r := startLogin(t, withoutLogLevel(e), false)
		m := r.await(t, regexp.MustCompile(`open this URL on any device:\n\n  (\S+)\n\nand enter the code:\n\n  (\S+)\n`))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		testkit.NoErr(t, fakebrowser.Device(ctx, m[1], m[2], fakebrowser.Options{User: "alice", Password: "alice-e2e-password"}), "sign in on the device page")
		screen := r.wait(t)
		want := regexp.MustCompile(`^relay: to sign in, open this URL on any device:\n\n  ` + regexp.QuoteMeta(m[1]) +
			`\n\nand enter the code:\n\n  ` + regexp.QuoteMeta(m[2]) + `\n\nrelay: the authorization server is ` + regexp.QuoteMeta(url) +
			`\nWaiting for you to finish\.\.\.\n` + signedIn + `$`)
		friendlyOnly(t, screen, m[1], m[2])
		if !want.MatchString(screen) {
			t.Fatalf("the screen is not the URL and code, the server and the sign-in:\n%s", screen)
		}
	})

	t.Run("browser-fails-warning", func(t *testing.T) {
		url, e := startDefaultSetup(t)
		e.Vars["BROWSER"] = filepath.Join(e.Home, "no-such-browser")
		r := startLogin(t, withoutLogLevel(e), false)
		warning := `relay: warning: could not open a browser; open the URL by hand \(err="platform: start browser [^\n]*no-such-browser[^\n]*\)\n`
		m := r.await(t, regexp.MustCompile(browserPrompt+`relay: the authorization server is \S+\n`+warning))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := fakebrowser.Login(ctx, m[1], fakebrowser.Options{User: "alice", Password: "alice-e2e-password"})
		testkit.NoErr(t, err, "open the URL by hand")
		screen := r.wait(t)
		friendlyOnly(t, screen, m[1])
		if !regexp.MustCompile(`^` + browserPrompt + `relay: the authorization server is ` + regexp.QuoteMeta(url) + `\n` + warning + signedIn + `$`).MatchString(screen) {
			t.Fatalf("the screen is not the prompt, the server, one short warning and the sign-in:\n%s", screen)
		}
	})

	t.Run("debug-shows-every-record", func(t *testing.T) {
		_, e := startDefaultSetup(t)
		screen := startLogin(t, e.Environ("RELAY_LOG_LEVEL=debug"), false).wait(t)
		testkit.Contains(t, "the screen at debug level", screen,
			"level=DEBUG msg=\"oauth: login started\"", "level=INFO msg=\"logged in\"",
			"msg=\"sign-in needed: open this URL in a browser\"", "relay: opening your browser to sign in")
	})

	t.Run("stderr-a-pipe-keeps-the-records", func(t *testing.T) {
		_, e := startDefaultSetup(t)
		r := startLogin(t, withoutLogLevel(e), true)
		if screen := r.wait(t); screen != "" {
			t.Errorf("the terminal shows %q; everything goes to stderr, a pipe", screen)
		}
		out := r.stderr.String()
		for _, re := range []string{`(?m)^time=\S+ level=INFO msg="vault: created" component=vault `,
			`(?m)^time=\S+ level=INFO msg="sign-in needed: open this URL in a browser" component=login url=`,
			`(?m)^time=\S+ level=INFO msg="logged in" component=broker sub=alice `,
			`(?m)^` + browserPrompt, `(?m)^` + signedIn} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("stderr, a pipe, has no line matching %s:\n%s", re, out)
			}
		}
	})
}
