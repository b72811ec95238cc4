package authserver

import (
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// Obviously fake secrets, long enough to be accepted.
const (
	fakeHMACSecret = "FAKE-hmac-secret-for-printing-tests-0123456789"
	fakeState      = "FAKE-state-for-printing-tests-0123456789"
)

// TestConfigPrintsNoHMACSecret: a Config in HS256 mode, printed with fmt,
// slog or encoding/json, does not show the HMAC secret. (json.Marshal of a
// whole Config fails on its func field Now; the secret's own encoding is
// then checked inside a struct that does marshal.)
func TestConfigPrintsNoHMACSecret(t *testing.T) {
	cfg := Config{Issuer: "http://127.0.0.1:5002", Users: testUsers(t), HMACSecret: secret.New(fakeHMACSecret)}
	testkit.NoSecretPrinted(t, map[string]string{"HMAC secret": fakeHMACSecret}, cfg, &cfg, struct{ HMACSecret secret.Value }{cfg.HMACSecret})
}

// TestServerPrintsNoHMACSecret: a running HS256 Server, its normalised
// Config and its signer, printed, do not show the secret, and tokens are
// still signed with it.
func TestServerPrintsNoHMACSecret(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.HMACSecret = secret.New(fakeHMACSecret) })
	verifyToken(t, e, e.tokens()["access_token"].(string), []byte(fakeHMACSecret))
	testkit.NoSecretPrinted(t, map[string]string{"HMAC secret": fakeHMACSecret}, e.s, e.s.cfg, e.s.signer, *e.s.signer)
}

// TestAuthRequestPrintsNoState: the pending authorization request holds
// the client's state, and its CSRF token and browser binding, as values
// that print REDACTED; the state is still echoed in the redirect, and
// never logged.
func TestAuthRequestPrintsNoState(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	q := authParams(ch)
	q.Set("state", fakeState)
	h := e.startAuthorize(q)
	st := e.s.store
	st.mu.Lock()
	req := st.requests[h.Get("request_id")]
	st.mu.Unlock()
	if req == nil || req.state.Reveal() != fakeState {
		t.Fatal("pending request not found, or its state lost")
	}
	testkit.NoSecretPrinted(t, map[string]string{"state": fakeState, "csrf token": h.Get("csrf_token"), "browser binding": req.browser.Reveal()}, req, *req)

	loc := e.consent(e.login(h, "alice", alicePW), "allow").location(t)
	if loc.Query().Get("state") != fakeState || loc.Query().Get("code") == "" {
		t.Fatalf("redirect lacks the state or the code: %s", loc)
	}
	q.Set("response_type", "token") // refused: the error redirect echoes the state too
	if loc := e.get("/authorize?" + q.Encode()).location(t); loc.Query().Get("state") != fakeState || loc.Query().Get("error") == "" {
		t.Fatalf("error redirect lacks the state: %s", loc)
	}
	if strings.Contains(e.logs.String(), fakeState) {
		t.Fatal("the state is in the log")
	}
}
