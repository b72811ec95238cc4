package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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
	d := startDefaultSetup(t)
	s := d.env.Serve(t, "", nil)

	who := whoamiOf(t, s.MustCall(t, "whoami", nil))
	if !strings.HasPrefix(who.ClientID, "dyn-") || who.Issuer != d.url {
		t.Fatalf("not the default set-up (a registered client, the discovered issuer): %+v", who)
	}
	if slices.Contains(who.Scopes, "admin") || !slices.Contains(who.Scopes, "notes:read") || d.opens() != 1 {
		t.Fatalf("first sign-in: scopes %v after %d browser opens; want notes:read and notes:write without admin, one open", who.Scopes, d.opens())
	}
	testkit.Contains(t, "admin_stats", s.MustCall(t, "admin_stats", nil), "uptime_seconds")
	if d.opens() != 2 {
		t.Fatalf("admin_stats: %d browser opens in all, want 2 (the sign-in, then one step-up)", d.opens())
	}
	after := whoamiOf(t, s.MustCall(t, "whoami", nil))
	if !slices.Contains(after.Scopes, "admin") || after.ClientID != who.ClientID {
		t.Fatalf("after the step-up: %+v", after)
	}
	s.MustCall(t, "admin_stats", nil)
	if d.opens() != 2 {
		t.Fatalf("%d browser opens after a second admin_stats, want still 2", d.opens())
	}
}

// TestE2E_DefaultSetupSignsInAfterFloods: the floods of issue 14, F2, sent
// from the relay's own address to the backend binary's built-in server,
// then a relay of the default set-up signs in. 10,000 GET /authorize used
// to make every sign-in answer 503 for 10 minutes, 10,000 POST
// /device_authorization blocked the device grant, and 100 POST /register
// made a default relay fail with "too many registered clients".
func TestE2E_DefaultSetupSignsInAfterFloods(t *testing.T) {
	d := startDefaultSetup(t)
	challenge := strings.Repeat("A", 43)
	authorize := d.url + "/authorize?" + url.Values{"client_id": {"relay"}, "redirect_uri": {"http://127.0.0.1:1/callback"},
		"response_type": {"code"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}.Encode()
	for _, f := range []struct {
		n                        int
		method, url, ctype, body string
		want                     int
	}{
		{10000, "GET", authorize, "", "", http.StatusSeeOther},
		{10000, "POST", d.url + "/device_authorization", "application/x-www-form-urlencoded", "client_id=relay", http.StatusOK},
		{200, "POST", d.url + "/register", "application/json", `{"redirect_uris":["http://127.0.0.1/callback"]}`, http.StatusCreated},
	} {
		if got := flood(t, f.n, f.method, f.url, f.ctype, f.body); got[f.want] != f.n {
			t.Errorf("%s %s: answers %v, want %d × %d", f.method, f.url, got, f.n, f.want)
		}
	}
	s := d.env.Serve(t, "", nil)
	if who := whoamiOf(t, s.MustCall(t, "whoami", nil)); !strings.HasPrefix(who.ClientID, "dyn-") || d.opens() != 1 {
		t.Fatalf("after the floods: %+v, %d browser opens", who, d.opens())
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

// defaultSetup is the backend binary with its built-in authorization
// server, and a relay configured with RELAY_BACKEND_URL alone (plus its
// test home, vault key file and the fake browser).
type defaultSetup struct {
	url    string // the backend's, and the issuer's
	env    *testkit.RelayEnv
	opened string // the fake browser's log
}

func startDefaultSetup(t *testing.T) *defaultSetup {
	t.Helper()
	const user, password = "alice", "alice-e2e-password"
	addr := testkit.FreeAddr(t)
	d := &defaultSetup{url: "http://" + addr, env: testkit.NewRelayEnv(t)}
	testkit.StartDaemon(t, testkit.Backend(t), []string{"BACKEND_ADDR=" + addr, "BACKEND_AUTH_SERVER=1", "AUTH_USERS=" + user + ":" + password}).
		WaitHealthy(t, d.url+"/healthz")
	d.opened = filepath.Join(d.env.Home, "browser.log")
	for k, v := range map[string]string{
		"RELAY_BACKEND_URL": d.url, "RELAY_LOGIN_TIMEOUT": "30s",
		"BROWSER": testkit.FakeBrowser(t), "FAKEBROWSER_USER": user, "FAKEBROWSER_PASSWORD": password, "FAKEBROWSER_LOG": d.opened,
	} {
		d.env.Vars[k] = v
	}
	return d
}

// opens counts the browser launches so far.
func (d *defaultSetup) opens() int {
	b, _ := os.ReadFile(d.opened)
	return strings.Count(string(b), "open\n")
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
