package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/chain"
	"github.com/keyrelay/keyrelay/vault"
)

// TestMain removes the binaries the e2e tests built.
func TestMain(m *testing.M) { testkit.Main(m) }

// relayEnv is one relay configuration against a chain: its backend and
// authorization server, the static client "relay", a file vault key, and
// the fake browser, which signs in as the chain's user.
type relayEnv struct {
	*testkit.RelayEnv
	t   *testing.T
	c   *chain.Server
	log string // fakebrowser's log of opened URLs
}

func newRelayEnv(t *testing.T, c *chain.Server) *relayEnv {
	t.Helper()
	e := &relayEnv{RelayEnv: testkit.NewRelayEnv(t), t: t, c: c}
	e.log = filepath.Join(e.Home, "browser.log")
	for k, v := range map[string]string{
		"RELAY_BACKEND_URL": c.URL, "RELAY_AUTH_SERVER_URL": c.URL, "RELAY_CLIENT_ID": "relay",
		"BROWSER": testkit.FakeBrowser(t), "FAKEBROWSER_USER": chain.User, "FAKEBROWSER_PASSWORD": chain.Password, "FAKEBROWSER_LOG": e.log,
	} {
		e.Vars[k] = v
	}
	return e
}

// opens counts browser launches so far.
func (e *relayEnv) opens() int {
	b, _ := os.ReadFile(e.log)
	return strings.Count(string(b), "open\n")
}

// vault opens the relay's vault from the test process.
func (e *relayEnv) vault() *vault.Vault {
	v, err := vault.Open(context.Background(), vault.Options{Dir: e.Dir, KeySpec: "file:" + e.KeyFile})
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *relayEnv) account() vault.Account {
	return vault.Account{Issuer: e.c.URL, ClientID: "relay", Resource: e.c.URL}
}

// expireStored moves the stored token's expiry into the past, as if time
// had passed, so the next relay process must refresh.
func (e *relayEnv) expireStored() {
	err := e.vault().Update(context.Background(), e.account(), func(r *vault.Record) (*vault.Record, error) {
		r.Expiry = time.Now().Add(-time.Minute)
		return r, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// start runs a relay driven by a client of the current protocol era
// (server/discover, 2026-07-28).
func (e *relayEnv) start(extra ...string) *testkit.Session { return e.Serve(e.t, "", nil, extra...) }

// startLegacy runs a relay driven by a 2025-era client (initialize).
func (e *relayEnv) startLegacy(extra ...string) *testkit.Session {
	//lint:ignore SA1019 2025-era clients (initialize) are exactly what this drives.
	legacy := client.WithLegacyProtocolOnly()
	return e.Serve(e.t, "2025-06-18", []client.ClientOption{legacy}, extra...)
}
