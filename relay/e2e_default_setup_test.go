package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
	const user, password = "alice", "alice-e2e-password"
	addr := testkit.FreeAddr(t)
	backendURL := "http://" + addr
	testkit.StartDaemon(t, testkit.Backend(t), []string{"BACKEND_ADDR=" + addr, "BACKEND_AUTH_SERVER=1", "AUTH_USERS=" + user + ":" + password}).
		WaitHealthy(t, backendURL+"/healthz")

	e := testkit.NewRelayEnv(t)
	opened := filepath.Join(e.Home, "browser.log")
	for k, v := range map[string]string{
		"RELAY_BACKEND_URL": backendURL, "RELAY_LOGIN_TIMEOUT": "30s",
		"BROWSER": testkit.FakeBrowser(t), "FAKEBROWSER_USER": user, "FAKEBROWSER_PASSWORD": password, "FAKEBROWSER_LOG": opened,
	} {
		e.Vars[k] = v
	}
	opens := func() int {
		b, _ := os.ReadFile(opened)
		return strings.Count(string(b), "open\n")
	}
	s := e.Serve(t, "", nil)

	who := whoamiOf(t, s.MustCall(t, "whoami", nil))
	if !strings.HasPrefix(who.ClientID, "dyn-") || who.Issuer != backendURL {
		t.Fatalf("not the default set-up (a registered client, the discovered issuer): %+v", who)
	}
	if slices.Contains(who.Scopes, "admin") || !slices.Contains(who.Scopes, "notes:read") || opens() != 1 {
		t.Fatalf("first sign-in: scopes %v after %d browser opens; want notes:read and notes:write without admin, one open", who.Scopes, opens())
	}
	if out := s.MustCall(t, "admin_stats", nil); !strings.Contains(out, "uptime_seconds") {
		t.Fatalf("admin_stats: %s", out)
	}
	if opens() != 2 {
		t.Fatalf("admin_stats: %d browser opens in all, want 2 (the sign-in, then one step-up)", opens())
	}
	after := whoamiOf(t, s.MustCall(t, "whoami", nil))
	if !slices.Contains(after.Scopes, "admin") || after.ClientID != who.ClientID {
		t.Fatalf("after the step-up: %+v", after)
	}
	s.MustCall(t, "admin_stats", nil)
	if opens() != 2 {
		t.Fatalf("%d browser opens after a second admin_stats, want still 2", opens())
	}
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
