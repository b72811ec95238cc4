package authserver

import (
	"net/url"
	"strings"
	"testing"
)

// TestLogsCarryNoSecrets runs the flows and checks that no code, token,
// verifier, password, CSRF token or device code reached the log.
func TestLogsCarryNoSecrets(t *testing.T) {
	e := newEnv(t)
	v, ch := pkce()
	q := authParams(ch)
	h := e.startAuthorize(q)
	e.post("/login", url.Values{"request_id": h["request_id"], "csrf_token": h["csrf_token"], "username": {"alice"}, "password": {"wrong-" + alicePW}})
	c := e.login(h, "alice", alicePW)
	code := e.consent(c, "allow").location(t).Query().Get("code")
	tok := e.exchange(code, v).json(t)
	rt2 := e.refresh(tok["refresh_token"].(string)).json(t)["refresh_token"].(string)
	e.refresh(tok["refresh_token"].(string)) // reuse: logs a warning
	code2, v2 := e.freshCode()
	e.exchange(code2, v2)
	e.exchange(code2, v2) // replay: logs a warning
	da := e.deviceStart()
	e.verify(da["user_code"].(string), "allow")
	e.poll(da["device_code"].(string))
	logs := e.logs.String()
	secrets := map[string]string{
		"code": code, "verifier": v, "access token": tok["access_token"].(string), "refresh token": tok["refresh_token"].(string),
		"rotated refresh token": rt2, "password": alicePW, "login csrf": h.Get("csrf_token"), "consent csrf": c.Get("csrf_token"),
		"device code": da["device_code"].(string),
	}
	for name, s := range secrets {
		if s == "" || strings.Contains(logs, s) {
			t.Errorf("%s is empty or in the log", name)
		}
	}
	for _, want := range []string{"sub=alice", "client_id=relay", "jti=", "code replayed", "refresh token reused"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestSweepDropsExpiredState(t *testing.T) {
	e := newEnv(t)
	e.startAuthorize(authQuery())
	e.tokens()
	e.deviceStart()
	e.clock.Advance(e.s.cfg.RefreshTTL + deviceTTL + codeRetention + requestTTL + sweepEvery)
	e.deviceStart() // triggers a sweep
	st := e.s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.requests) != 0 || len(st.codes) != 0 || len(st.families) != 0 || len(st.refresh) != 0 || len(st.devices) != 1 || len(st.userCodes) != 1 {
		t.Fatalf("left: %d requests %d codes %d families %d refresh %d devices %d user codes",
			len(st.requests), len(st.codes), len(st.families), len(st.refresh), len(st.devices), len(st.userCodes))
	}
}
