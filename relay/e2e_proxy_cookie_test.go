package main

import (
	"strings"
	"testing"
)

// Behind a load balancer that keeps each MCP session on one node with a
// cookie (AWS ALB and others), the relay sends the cookie back, so every
// request of the session reaches its node: the calls work and no request
// of the session comes without the cookie. The cookie never appears in
// the debug log. (2025 era: the 2026-07-28 era has no sessions.)
func TestProxy_LoadBalancerCookie(t *testing.T) {
	_, ep, e := mcpEnv(t, "2025")
	ep.mu.Lock()
	ep.sticky = true
	ep.mu.Unlock()
	for _, modern := range []bool{false, true} {
		s := e.startEra(modern)
		for i := 0; i < 3; i++ {
			s.whoami(t)
		}
		if strings.Contains(s.Stderr.String(), "node1") {
			t.Fatal("the load balancer's cookie is in the relay's log")
		}
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.unstuck != 0 {
		t.Fatalf("%d session requests came without the load balancer's cookie", ep.unstuck)
	}
}
