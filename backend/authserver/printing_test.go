package authserver

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/secret"
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
	secrets := map[string]string{"HMAC secret": fakeHMACSecret}
	assertPrintsNone(t, cfg, secrets)
	assertPrintsNone(t, &cfg, secrets)
	assertPrintsNone(t, struct{ HMACSecret secret.Value }{cfg.HMACSecret}, secrets)
}

// TestServerPrintsNoHMACSecret: a running HS256 Server, its normalised
// Config and its signer, printed, do not show the secret, and tokens are
// still signed with it.
func TestServerPrintsNoHMACSecret(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.HMACSecret = secret.New(fakeHMACSecret) })
	verifyToken(t, e, e.tokens()["access_token"].(string), []byte(fakeHMACSecret))
	secrets := map[string]string{"HMAC secret": fakeHMACSecret}
	assertPrintsNone(t, e.s, secrets)
	assertPrintsNone(t, e.s.cfg, secrets)
	assertPrintsNone(t, e.s.signer, secrets)
	assertPrintsNone(t, *e.s.signer, secrets)
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
	secrets := map[string]string{"state": fakeState, "csrf token": h.Get("csrf_token"), "browser binding": req.browser.Reveal()}
	assertPrintsNone(t, req, secrets)
	assertPrintsNone(t, *req, secrets)

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

// assertPrintsNone fails if any way of printing v shows one of secrets.
func assertPrintsNone(t *testing.T, v any, secrets map[string]string) {
	t.Helper()
	for how, out := range printings(v) {
		for name, s := range secrets {
			if s == "" {
				t.Fatalf("the %s is empty: nothing to look for", name)
			}
			for _, enc := range encodings(s) {
				if strings.Contains(out, enc) {
					t.Errorf("%s of a %T shows the %s: %s", how, v, name, out)
				}
			}
		}
	}
}

// printings is v printed by fmt (%v, %+v, %#v, %s), by slog's JSON and text
// handlers, and by json.Marshal (its error text, if it fails).
func printings(v any) map[string]string {
	var js, txt bytes.Buffer
	slog.New(slog.NewJSONHandler(&js, nil)).Info("print", "v", v)
	slog.New(slog.NewTextHandler(&txt, nil)).Info("print", "v", v)
	j, err := json.Marshal(v)
	if err != nil {
		j = []byte("json error: " + err.Error())
	}
	return map[string]string{
		"%v": fmt.Sprintf("%v", v), "%+v": fmt.Sprintf("%+v", v), "%#v": fmt.Sprintf("%#v", v), "%s": fmt.Sprintf("%s", v),
		"slog JSON": js.String(), "slog text": txt.String(), "json.Marshal": string(j),
	}
}

// encodings are the ways fmt or an encoder could spell s: as is, as hex,
// base64 and fmt's byte list ("[116 101 ...]" without the brackets).
func encodings(s string) []string {
	b := []byte(s)
	return []string{s, hex.EncodeToString(b), base64.StdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		strings.Trim(fmt.Sprint(b), "[]")}
}
