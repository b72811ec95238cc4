package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/chain"
	"github.com/keyrelay/keyrelay/relay/broker"
)

// TestE2E_DPoPStatusShowsThumbprintAndLogoutWipesTheKey: with the default
// settings the sign-in binds the tokens to a key in the vault; relay
// status shows its thumbprint (never the key), and relay logout removes
// it with the tokens.
func TestE2E_DPoPStatusShowsThumbprintAndLogoutWipesTheKey(t *testing.T) {
	// Nonces at both servers: the relay's retry at the token endpoint
	// (400) and at the tool API (401).
	url, env := startDefaultSetup(t, "AUTH_DPOP_NONCE=1", "BACKEND_DPOP_NONCE=1")
	env.Says(t, 0, "login")
	s := env.Serve(t, "", nil)
	if who := whoamiOf(t, s.MustCall(t, "whoami", nil)); who.Issuer != url {
		t.Fatalf("whoami: %+v", who)
	}
	_ = s.Close()
	rec := storedAt(t, env.RelayEnv, url)
	jkt := broker.Thumbprint(&rec)
	if rec.TokenType != "DPoP" || jkt == "" {
		t.Fatalf("stored tokens %q, jkt %q: want DPoP-bound ones", rec.TokenType, jkt)
	}
	if out := env.Prints(t, 0, "status", "dpop key:    jkt "+jkt+"; tokens bound to it"); strings.Contains(out, rec.DPoPKey.Reveal()) {
		t.Fatal("relay status shows the key")
	}
	js := env.Prints(t, 0, "status --json")
	var rep struct {
		TokenType string `json:"token_type"`
		JKT       string `json:"dpop_jkt"`
	}
	if json.Unmarshal([]byte(js), &rep) != nil || rep.JKT != jkt || rep.TokenType != "DPoP" {
		t.Fatalf("relay status --json: %s", js)
	}
	env.Says(t, 0, "logout")
	if out := env.Prints(t, 1, "status"); strings.Contains(out, "dpop key") || strings.Contains(out, jkt) {
		t.Fatalf("relay status after logout:\n%s", out)
	}
}

// TestE2E_DPoPOnRefusesAServerWithoutIt: RELAY_DPOP=on, and the policy's
// require_dpop, refuse an authorization server that does not offer DPoP,
// before any token request; RELAY_DPOP=off with require_dpop is a
// configuration error.
func TestE2E_DPoPOnRefusesAServerWithoutIt(t *testing.T) {
	_, env := startDefaultSetup(t, "AUTH_DPOP=0")
	env.Vars["RELAY_DPOP"] = "on"
	if stderr := env.Says(t, 3, "login", "does not support DPoP, which is required", "relay: hint: DPoP is required here"); strings.Contains(stderr, "open this URL") {
		t.Fatal("a sign-in started for a server the relay then refuses")
	}
	delete(env.Vars, "RELAY_DPOP")
	env.Vars["RELAY_POLICY_FILE"] = testkit.WriteTemp(t, "policy.json", `{"require_dpop": true}`, 0o644)
	env.Says(t, 3, "login", "does not support DPoP")
	env.Vars["RELAY_DPOP"] = "off"
	env.Says(t, 2, "login", "require_dpop")
	env.Vars["RELAY_DPOP"] = "sometimes"
	env.Says(t, 2, "login", `RELAY_DPOP "sometimes": want auto, on or off`)
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
	dpopN := ep.countHeaders(func(h http.Header) bool {
		return strings.HasPrefix(h.Get("Authorization"), "DPoP ") && h.Get("DPoP") != ""
	})
	bearerN := ep.countHeaders(func(h http.Header) bool { return strings.HasPrefix(h.Get("Authorization"), "Bearer ") })
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
