package oauth

import (
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestLoginPrintsNoStateOrVerifier formats a Login in progress every way a
// log line or a debug print could (fmt's %v, %+v and %#v, slog's JSON and
// text handlers, json.Marshal) and finds neither the state nor the PKCE
// verifier, in any usual encoding. The state is also in the authorization
// URL the Login holds; URL() still gives it, for the browser.
func TestLoginPrintsNoStateOrVerifier(t *testing.T) {
	c := newFakeAS(t).client()
	l := startLogin(t, c)
	state := authParams(t, l).Get("state")
	if state == "" || !strings.Contains(l.URL(), "state="+state) {
		t.Fatalf("URL() lost the state: %s", l.URL())
	}
	// Printed after Close: %s makes fmt walk the http.Server its serve
	// goroutines write to, a race of the test's making.
	_ = l.Close()
	testkit.NoSecretPrinted(t, map[string]string{"state": state, "verifier": l.pkce.verifier.Reveal()}, l)
}
