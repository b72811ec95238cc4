package authserver

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"golang.org/x/oauth2"
)

func (e *env) deviceStart(extra ...string) map[string]any {
	e.t.Helper()
	v := url.Values{"client_id": {"relay"}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	r := e.post("/device_authorization", v)
	if r.status != 200 {
		e.t.Fatalf("device_authorization: %d %s", r.status, r.body)
	}
	return r.json(e.t)
}

func (e *env) poll(dc string) resp {
	e.t.Helper()
	return e.post("/token", url.Values{"grant_type": {DeviceCodeGrantType}, "device_code": {dc}, "client_id": {"relay"}})
}

// verify enters the user code on /device in the browser, logs in and
// answers the consent.
func (e *env) verify(userCode, action string) resp {
	e.t.Helper()
	p := e.get("/device?user_code=" + url.QueryEscape(userCode))
	if !strings.Contains(p.body, `value="`+userCode+`"`) {
		e.t.Fatalf("verification_uri_complete does not prefill the code")
	}
	r := e.post("/device", url.Values{"csrf_token": hidden(e.t, p.body)["csrf_token"], "user_code": {strings.ToLower(userCode)}})
	if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "/login?") {
		e.t.Fatalf("device: %d %q", r.status, r.header.Get("Location"))
	}
	login := e.get(r.header.Get("Location"))
	c := e.login(hidden(e.t, login.body), "bob", bobPW)
	page := e.get("/consent?request_id=" + c.Get("request_id"))
	if !strings.Contains(page.body, userCode) {
		e.t.Fatal("consent page does not show the user code")
	}
	return e.consent(c, action)
}

func TestDeviceFlow(t *testing.T) {
	e := newEnv(t)
	da := e.deviceStart("scope", "notes:read")
	dc, uc := da["device_code"].(string), da["user_code"].(string)
	if da["verification_uri"] != e.ts.URL+"/device" || da["interval"].(float64) != 5 || da["expires_in"].(float64) != 600 ||
		!strings.HasPrefix(da["verification_uri_complete"].(string), e.ts.URL+"/device?user_code=") || len(uc) != 9 {
		t.Fatalf("device authorization response: %v", da)
	}
	wantOAuthError(t, e.poll(dc), 400, "authorization_pending")
	e.clock.Advance(2 * time.Second)
	wantOAuthError(t, e.poll(dc), 400, "slow_down")
	e.clock.Advance(6 * time.Second) // the interval is now 10 s
	wantOAuthError(t, e.poll(dc), 400, "slow_down")
	e.clock.Advance(16 * time.Second)
	wantOAuthError(t, e.poll(dc), 400, "authorization_pending")

	r := e.verify(uc, "allow")
	if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "/device?status=approved") {
		t.Fatalf("consent: %d %q", r.status, r.header.Get("Location"))
	}
	wantOAuthError(t, e.post("/token", url.Values{"grant_type": {DeviceCodeGrantType}, "device_code": {dc}, "client_id": {"other"}}), 401, "invalid_client")
	e.clock.Advance(16 * time.Second)
	tok := e.poll(dc)
	if tok.status != 200 {
		t.Fatalf("token: %d %s", tok.status, tok.body)
	}
	m := tok.json(t)
	c := testkit.PeekJWT(t, m["access_token"].(string), 1)
	if c["sub"] != "bob" || c["scope"] != "notes:read" || c["aud"] != e.ts.URL || m["refresh_token"] == "" {
		t.Fatalf("claims %v", c)
	}
	e.clock.Advance(16 * time.Second)
	wantOAuthError(t, e.poll(dc), 400, "invalid_grant") // single use
	if r := e.refresh(m["refresh_token"].(string)); r.status != 200 {
		t.Fatalf("device refresh: %d", r.status)
	}
}

func TestDeviceFlowDeniedExpiredAndWrongCode(t *testing.T) {
	e := newEnv(t)
	t.Run("denied", func(t *testing.T) {
		da := e.deviceStart()
		r := e.verify(da["user_code"].(string), "deny")
		if !strings.Contains(r.header.Get("Location"), "status=denied") {
			t.Fatalf("%q", r.header.Get("Location"))
		}
		wantOAuthError(t, e.poll(da["device_code"].(string)), 400, "access_denied")
	})
	t.Run("expired", func(t *testing.T) {
		da := e.deviceStart()
		e.clock.Advance(deviceTTL + time.Second)
		wantOAuthError(t, e.poll(da["device_code"].(string)), 400, "expired_token")
	})
	t.Run("wrong user codes are rate-limited", func(t *testing.T) {
		da := e.deviceStart()
		p := e.get("/device")
		csrf := hidden(t, p.body).Get("csrf_token")
		for range 5 {
			r := e.post("/device", url.Values{"csrf_token": {csrf}, "user_code": {"BBBB-BBBB"}})
			if !strings.Contains(r.header.Get("Location"), "error=1") {
				t.Fatalf("%q", r.header.Get("Location"))
			}
		}
		r := e.post("/device", url.Values{"csrf_token": {csrf}, "user_code": {da["user_code"].(string)}})
		if !strings.Contains(r.header.Get("Location"), "error=1") {
			t.Fatal("the right code went through while rate-limited")
		}
	})
	t.Run("missing csrf", func(t *testing.T) {
		da := e.deviceStart()
		r := e.post("/device", url.Values{"user_code": {da["user_code"].(string)}})
		if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "error=1") {
			t.Fatalf("%d %q", r.status, r.header.Get("Location"))
		}
	})
}

func TestNormalizeUserCode(t *testing.T) {
	for in, want := range map[string]string{"BCDF-GHJK": "BCDFGHJK", "bcdf ghjk": "BCDFGHJK", "BCDFGHJ": "", "BCDF-GHJA": "", "<b>": ""} {
		if got := normalizeUserCode(in); got != want {
			t.Errorf("normalizeUserCode(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDeviceFlow_OAuth2Client checks interop with x/oauth2's RFC 8628
// client (it polls on real time, so the interval is shortened to 1 s).
func TestDeviceFlow_OAuth2Client(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Now = nil })
	e.s.deviceInterval = time.Second
	md := e.s.Metadata()
	cfg := &oauth2.Config{ClientID: "relay", Scopes: []string{"notes:read"},
		Endpoint: oauth2.Endpoint{TokenURL: md.TokenEndpoint, DeviceAuthURL: md.DeviceAuthorizationEndpoint, AuthStyle: oauth2.AuthStyleInParams}}
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), oauth2.HTTPClient, e.ts.Client()), 20*time.Second)
	defer cancel()
	da, err := cfg.DeviceAuth(ctx, oauth2.SetAuthURLParam("resource", e.ts.URL))
	testkit.NoErr(t, err, "DeviceAuth")
	e.verify(da.UserCode, "allow")
	tok, err := cfg.DeviceAccessToken(ctx, da)
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("DeviceAccessToken: %v", err)
	}
}
