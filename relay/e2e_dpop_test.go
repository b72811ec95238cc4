package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/chain"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/vault"
)

// dpopBackend starts the backend with its built-in server and extra
// settings, and a relay environment that signs in to it with the
// scripted browser.
func dpopBackend(t *testing.T, extra ...string) (string, *testkit.RelayEnv) {
	t.Helper()
	const user, password = "alice", "alice-e2e-password"
	addr := testkit.FreeAddr(t)
	url := "http://" + addr
	testkit.StartDaemon(t, testkit.Backend(t), append([]string{"BACKEND_ADDR=" + addr, "BACKEND_AUTH_SERVER=1",
		"AUTH_USERS=" + user + ":" + password}, extra...)).WaitHealthy(t, url+"/healthz")
	env := testkit.NewRelayEnv(t)
	for k, v := range map[string]string{"RELAY_BACKEND_URL": url, "RELAY_LOGIN_TIMEOUT": "30s",
		"BROWSER": testkit.FakeBrowser(t), "FAKEBROWSER_USER": user, "FAKEBROWSER_PASSWORD": password} {
		env.Vars[k] = v
	}
	return url, env
}

// TestE2E_DPoPStatusShowsThumbprintAndLogoutWipesTheKey: with the default
// settings the sign-in binds the tokens to a key in the vault; relay
// status shows its thumbprint (never the key), and relay logout removes
// it with the tokens.
func TestE2E_DPoPStatusShowsThumbprintAndLogoutWipesTheKey(t *testing.T) {
	// Nonces at both servers: the relay's retry at the token endpoint
	// (400) and at the tool API (401).
	url, env := dpopBackend(t, "AUTH_DPOP_NONCE=1", "BACKEND_DPOP_NONCE=1")
	if _, stderr, code := env.Run(t, "login"); code != 0 {
		t.Fatalf("relay login: exit %d\n%s", code, stderr)
	}
	s := env.Serve(t, "", nil)
	if who := whoamiOf(t, s.MustCall(t, "whoami", nil)); who.Issuer != url {
		t.Fatalf("whoami: %+v", who)
	}
	_ = s.Close()
	v, err := vault.Open(context.Background(), vault.Options{Dir: env.Dir, KeySpec: "file:" + env.KeyFile})
	testkit.NoErr(t, err)
	accts, err := v.Accounts(context.Background())
	testkit.NoErr(t, err)
	i := slices.IndexFunc(accts, func(a vault.Account) bool { return a.Resource == url })
	if i < 0 {
		t.Fatalf("no record for %s", url)
	}
	rec, err := v.Get(context.Background(), accts[i])
	testkit.NoErr(t, err)
	jkt := broker.Thumbprint(&rec)
	if rec.TokenType != "DPoP" || jkt == "" {
		t.Fatalf("stored tokens %q, jkt %q: want DPoP-bound ones", rec.TokenType, jkt)
	}
	out, _, code := env.Run(t, "status")
	if code != 0 || !strings.Contains(out, "dpop key:    jkt "+jkt+"; tokens bound to it") {
		t.Fatalf("relay status (exit %d):\n%s", code, out)
	}
	if strings.Contains(out, rec.DPoPKey.Reveal()) {
		t.Fatal("relay status shows the key")
	}
	js, _, _ := env.Run(t, "status", "--json")
	var rep struct {
		TokenType string `json:"token_type"`
		JKT       string `json:"dpop_jkt"`
	}
	if json.Unmarshal([]byte(js), &rep) != nil || rep.JKT != jkt || rep.TokenType != "DPoP" {
		t.Fatalf("relay status --json: %s", js)
	}
	if _, stderr, code := env.Run(t, "logout"); code != 0 {
		t.Fatalf("relay logout: exit %d\n%s", code, stderr)
	}
	if out, _, _ := env.Run(t, "status"); strings.Contains(out, "dpop key") || strings.Contains(out, jkt) {
		t.Fatalf("relay status after logout:\n%s", out)
	}
}

// TestE2E_DPoPOnRefusesAServerWithoutIt: RELAY_DPOP=on, and the policy's
// require_dpop, refuse an authorization server that does not offer DPoP,
// before any token request; RELAY_DPOP=off with require_dpop is a
// configuration error.
func TestE2E_DPoPOnRefusesAServerWithoutIt(t *testing.T) {
	_, env := dpopBackend(t, "AUTH_DPOP=0")
	env.Vars["RELAY_DPOP"] = "on"
	_, stderr, code := env.Run(t, "login")
	if strings.Contains(stderr, "open this URL") {
		t.Fatal("a sign-in started for a server the relay then refuses")
	}
	if code != 3 || !strings.Contains(stderr, "does not support DPoP, which is required") || !strings.Contains(stderr, "relay: hint: DPoP is required here") {
		t.Fatalf("relay login with RELAY_DPOP=on: exit %d\n%s", code, stderr)
	}
	delete(env.Vars, "RELAY_DPOP")
	pol := filepath.Join(t.TempDir(), "policy.json")
	testkit.NoErr(t, os.WriteFile(pol, []byte(`{"require_dpop": true}`), 0o644))
	env.Vars["RELAY_POLICY_FILE"] = pol
	if _, stderr, code = env.Run(t, "login"); code != 3 || !strings.Contains(stderr, "does not support DPoP") {
		t.Fatalf("relay login with require_dpop: exit %d\n%s", code, stderr)
	}
	env.Vars["RELAY_DPOP"] = "off"
	if _, stderr, code = env.Run(t, "login"); code != 2 || !strings.Contains(stderr, "require_dpop") {
		t.Fatalf("relay login with require_dpop and RELAY_DPOP=off: exit %d\n%s", code, stderr)
	}
	env.Vars["RELAY_DPOP"] = "sometimes"
	if _, stderr, code = env.Run(t, "login"); code != 2 || !strings.Contains(stderr, `RELAY_DPOP "sometimes": want auto, on or off`) {
		t.Fatalf("RELAY_DPOP=sometimes: exit %d\n%s", code, stderr)
	}
}

// TestProxy_DPoP: in MCP server mode too, with an authorization server
// that offers DPoP, the relay's tokens are bound to the vault's key and
// every request to the MCP server (the POSTs and the GET stream) carries
// the DPoP scheme and a proof; the server refuses the stored token as a
// bearer token.
func TestProxy_DPoP(t *testing.T) {
	mc := newMCPChainOpts(t, "", chain.Options{DPoP: true}, "/mcp")
	ep, e := mc.eps["/mcp"], proxyEnv(t, mc, "/mcp")
	s := e.startEra(false)
	s.whoami(t)
	s.whoami(t)
	ep.mu.Lock()
	var dpopN, bearerN int
	for _, h := range ep.hdrs {
		switch a := h.Get("Authorization"); {
		case strings.HasPrefix(a, "DPoP ") && h.Get("DPoP") != "":
			dpopN++
		case strings.HasPrefix(a, "Bearer "):
			bearerN++
		}
	}
	ep.mu.Unlock()
	if dpopN < 3 || bearerN != 0 {
		t.Fatalf("%d requests with DPoP and a proof, %d with Bearer; want every token request with DPoP", dpopN, bearerN)
	}
	rec := e.stored(t)
	if rec == nil || rec.TokenType != "DPoP" || broker.Thumbprint(rec) == "" {
		t.Fatalf("stored %q", rec.TokenType)
	}
	req, _ := http.NewRequest(http.MethodPost, ep.url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	req.Header.Set("Authorization", "Bearer "+rec.AccessToken.Reveal())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	testkit.NoErr(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the stored token as a bearer token: %d", resp.StatusCode)
	}
}
