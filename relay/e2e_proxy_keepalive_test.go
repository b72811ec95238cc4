package main

import (
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// RELAY_PING_INTERVAL (mcp-remote's --keep-alive): once a 2025-era session
// is open, the relay pings the server on its own, with the token it has,
// and the session stays usable; without the setting it sends no ping.
func TestProxy_KeepAlive(t *testing.T) {
	_, ep, e := mcpEnv(t, "2025")
	s := e.startEra(false)
	s.whoami(t)
	time.Sleep(1500 * time.Millisecond)
	if n := ep.count("ping"); n != 0 {
		t.Fatalf("%d pings without RELAY_PING_INTERVAL", n)
	}
	s = e.startEra(true, "RELAY_PING_INTERVAL=1s")
	s.whoami(t)
	if !testkit.Eventually(20*time.Second, func() bool { return ep.count("ping") >= 2 }) {
		t.Fatalf("%d pings in 20 s with RELAY_PING_INTERVAL=1s\n%s", ep.count("ping"), s.Stderr.String())
	}
	s.whoami(t)
	if e.opens() != 1 {
		t.Fatalf("%d browser opens; the pings must not sign in", e.opens())
	}
}
