package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/chain"
)

// usePolicy writes body as the relay's RELAY_POLICY_FILE.
func (e *relayEnv) usePolicy(body string) string {
	e.t.Helper()
	p := filepath.Join(e.t.TempDir(), "policy.json")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.Vars["RELAY_POLICY_FILE"] = p
	return p
}

// TestPolicy_RefusalsBeforeAnyBrowser: each rule of the administrator's
// policy refuses a configuration that breaks it before a browser opens or
// a code is exchanged, with a one-line error naming the rule, in the CLI
// and in the stdio server.
func TestPolicy_RefusalsBeforeAnyBrowser(t *testing.T) {
	c := chain.Start(t, chain.Options{})
	cases := []struct {
		name, policy, want string
		env                map[string]string
	}{
		{"backend host", `{"allowed_backend_hosts": ["tools.example.com"]}`, "allowed_backend_hosts", nil},
		{"pinned issuer", `{"allowed_issuers": ["https://login.example.com"]}`, "allowed_issuers", nil},
		{"discovered issuer", `{"allowed_issuers": ["https://login.example.com"]}`, "allowed_issuers",
			map[string]string{"RELAY_AUTH_SERVER_URL": "", "RELAY_CLIENT_ID": ""}},
		{"auth server host", `{"allowed_auth_server_hosts": ["login.example.com"]}`, "allowed_auth_server_hosts", nil},
		{"keychain required", `{"require_keychain": true}`, "policy requires the OS keychain", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newRelayEnv(t, c)
			e.usePolicy(tc.policy)
			for k, v := range tc.env {
				if v == "" {
					delete(e.Vars, k)
				} else {
					e.Vars[k] = v
				}
			}
			codes := c.Codes.Load()
			errorLine(t, e.Says(t, testkit.Failed, "login", tc.want))
			e.start().fails(t, "whoami", tc.want)
			if e.opens() != 0 || c.Codes.Load() != codes {
				t.Fatalf("a browser opened (%d) or a code was exchanged", e.opens())
			}
			if e.hasTokens() {
				t.Fatal("tokens stored despite the policy")
			}
		})
	}
}

// TestPolicy_AllowedConfigurationWorks is the control: the same chain
// under a policy that allows it signs in, and max_token_lifetime caps the
// stored expiry below the server's 15 minutes.
func TestPolicy_AllowedConfigurationWorks(t *testing.T) {
	c, e := backendEnv(t)
	e.usePolicy(`{"allowed_backend_hosts": ["127.0.0.1"], "allowed_auth_server_hosts": ["127.0.0.1"],
		"allowed_issuers": ["` + c.URL + `"], "max_token_lifetime": "2m", "max_session": "8h"}`)
	before := time.Now()
	e.start().whoami(t)
	r := e.stored(t)
	if r.Expiry.After(time.Now().Add(2*time.Minute)) || r.Expiry.Before(before.Add(2*time.Minute-time.Second)) {
		t.Fatalf("stored expiry %v not capped to 2m after %v", r.Expiry, before)
	}
	if r.SignedIn.IsZero() {
		t.Fatal("no sign-in time stored")
	}
	e.Prints(t, 0, "status", "policy:", "access token used at most 2m0s")
}

// TestPolicy_DeviceGrantOff: `relay login --device` is refused, and a
// server with no browser hands out the browser URL instead of a device code.
func TestPolicy_DeviceGrantOff(t *testing.T) {
	_, e := backendEnv(t)
	e.usePolicy(`{"disable_device_grant": true}`)
	e.Says(t, exitUsage, "login --device", "device grant is turned off")
	s := e.start("BROWSER=", "SSH_CONNECTION=10.0.0.1 50000 10.0.0.2 22")
	if text := s.fails(t, "whoami", "/authorize?"); deviceLine.MatchString(text) {
		t.Fatalf("want the browser URL, no device code: %s", text)
	}
}

// TestPolicy_BrokenFileFailsClosedButLogoutWipes: a policy file that
// cannot be parsed stops sign-in and tool calls, and never blocks logout.
func TestPolicy_BrokenFileFailsClosedButLogoutWipes(t *testing.T) {
	_, e := backendEnv(t)
	e.mustCLI(t, "login")
	e.usePolicy(`{"require_keychian": true}`) // misspelt: never silently ignored
	e.Says(t, exitUsage, "login", "invalid policy file")
	e.start().fails(t, "whoami", "invalid policy file")
	// wiped, but not revoked: the broken policy forbids asking the server
	e.Says(t, exitNotRevoked, "logout", "revocation skipped", "NOT revoked at the server")
	if e.hasTokens() {
		t.Fatal("tokens.age survived logout")
	}
}

// TestPolicy_LogoutWipesFileKeyVaultUnderKeychainRule: a vault made with a
// file key before require_keychain arrived can still be revoked and wiped.
func TestPolicy_LogoutWipesFileKeyVaultUnderKeychainRule(t *testing.T) {
	_, e := backendEnv(t)
	e.mustCLI(t, "login")
	e.usePolicy(`{"require_keychain": true}`)
	delete(e.Vars, "RELAY_VAULT_KEY")
	e.Says(t, exitUsage, "login", "policy requires the OS keychain")
	e.Vars["RELAY_VAULT_KEY"] = "file:" + e.KeyFile
	e.Says(t, 0, "logout", "was revoked")
	if e.hasTokens() {
		t.Fatal("tokens.age survived logout")
	}
}
