package oauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

const fakeDeviceCode = "fake-device-code-0123456789abcdef"

// testClock is a fake clock that a fake Sleep advances.
type testClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep records d and advances the clock by it, without waiting.
func (c *testClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *testClock) slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

const goodDeviceAuth = `{"device_code":"` + fakeDeviceCode + `","user_code":"BCDF-GHJK","verification_uri":"https://as.example/device",
	"verification_uri_complete":"https://as.example/device?user_code=BCDF-GHJK","expires_in":600,"interval":5}`

// newDeviceAS is a fake server whose token endpoint answers the polls in
// order.
func newDeviceAS(t *testing.T, polls ...string) *fakeAS {
	f := newFakeAS(t)
	f.poll(polls...)
	return f
}

// startDevice starts a device login for c on clock, which its sleeps
// advance.
func startDevice(t *testing.T, c *Client, clock *testClock) *DeviceLogin {
	t.Helper()
	c.Now = clock.Now
	dl, err := c.StartDevice(context.Background())
	testkit.NoErr(t, err)
	dl.Sleep = clock.Sleep
	return dl
}

func oauthErr(code string) string { return `{"error":"` + code + `"}` }

const deviceTokens = `{"access_token":"` + fakeAccess + `","token_type":"Bearer","expires_in":900,"refresh_token":"` + fakeRefresh + `"}`

func TestDeviceFlowPendingSlowDownSuccess(t *testing.T) {
	d := newDeviceAS(t, oauthErr("authorization_pending"), oauthErr("slow_down"), oauthErr("authorization_pending"), deviceTokens)
	clock := &testClock{now: fixedNow}
	c := d.client()
	c.ExtraAuthParams = url.Values{"audience": {"https://api.example"}}
	var logs bytes.Buffer
	c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dl := startDevice(t, c, clock)
	if dl.UserCode != "BCDF-GHJK" || dl.VerificationURI != "https://as.example/device" || !strings.HasSuffix(dl.VerificationURIComplete, "user_code=BCDF-GHJK") ||
		!dl.Expiry.Equal(fixedNow.Add(600*time.Second)) || dl.Interval != 5*time.Second {
		t.Fatalf("device login %+v", dl)
	}
	auth := d.requests("/device_authorization")[0]
	if auth.Method != "POST" || auth.Header.Get("Authorization") != "" || auth.Form.Get("client_id") != "relay" ||
		auth.Form.Get("scope") != "notes:read notes:write" || auth.Form.Get("resource") != resourceURL || auth.Form.Get("audience") != "https://api.example" {
		t.Fatalf("device authorization request %v", auth.Form)
	}
	tok, err := dl.Wait(context.Background())
	testkit.NoErr(t, err)
	if tok.AccessToken.Reveal() != fakeAccess || tok.RefreshToken.Reveal() != fakeRefresh || !slices.Equal(tok.Scopes, c.Scopes) {
		t.Fatalf("tokens %+v", tok)
	}
	if want := []time.Duration{5 * time.Second, 5 * time.Second, 10 * time.Second, 10 * time.Second}; !slices.Equal(clock.slept(), want) {
		t.Fatalf("slept %v, want %v (slow_down adds 5 s)", clock.slept(), want)
	}
	polls := d.requests("/token")
	if len(polls) != 4 {
		t.Fatalf("%d polls", len(polls))
	}
	for _, p := range polls {
		if p.Form.Get("grant_type") != DeviceCodeGrantType || p.Form.Get("device_code") != fakeDeviceCode || p.Form.Get("client_id") != "relay" ||
			p.Form.Get("resource") != resourceURL || p.Header.Get("Authorization") != "" || len(p.Form) != 4 {
			t.Fatalf("poll %v", p.Form)
		}
	}
	for _, s := range []string{fakeDeviceCode, fakeAccess, fakeRefresh} {
		if strings.Contains(logs.String(), s) || strings.Contains(fmt.Sprintf("%+v %#v", dl, dl), s) {
			t.Fatalf("a secret reached the log or a print of the DeviceLogin")
		}
	}
	testkit.WantIs(t, testkit.ErrOf(dl.Wait(context.Background())), ErrConfig, "second Wait")
}

func TestDeviceFlowEndings(t *testing.T) {
	cases := []struct {
		name  string
		auth  string
		polls []string
		want  error
		n     int // polls expected
	}{
		{"denied", goodDeviceAuth, []string{oauthErr("authorization_pending"), oauthErr("access_denied")}, ErrAccessDenied, 2},
		{"expired_token", goodDeviceAuth, []string{oauthErr("expired_token")}, ErrDeviceExpired, 1},
		{"expires locally", strings.Replace(goodDeviceAuth, `"expires_in":600`, `"expires_in":12`, 1), []string{oauthErr("authorization_pending")}, ErrDeviceExpired, 2},
		{"invalid_client", goodDeviceAuth, []string{oauthErr("invalid_client")}, ErrInvalidClient, 1},
		{"invalid_grant", goodDeviceAuth, []string{oauthErr("invalid_grant")}, ErrInvalidGrant, 1},
		{"not Bearer", goodDeviceAuth, []string{`{"access_token":"a","token_type":"mac"}`}, ErrBadResponse, 1},
		{"garbage", goodDeviceAuth, []string{`<html>`}, ErrBadResponse, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newDeviceAS(t, tc.polls...)
			d.devBody = tc.auth
			tok, err := startDevice(t, d.client(), &testClock{now: fixedNow}).Wait(context.Background())
			if tok != nil || !errors.Is(err, tc.want) || strings.Contains(err.Error(), fakeDeviceCode) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if n := len(d.requests("/token")); n != tc.n {
				t.Fatalf("%d polls, want %d", n, tc.n)
			}
		})
	}
}

func TestDeviceErrorDoesNotEchoDeviceCode(t *testing.T) {
	d := newDeviceAS(t, `{"error":"invalid_request","error_description":"bad device_code `+fakeDeviceCode+`"}`)
	_, err := startDevice(t, d.client(), &testClock{now: fixedNow}).Wait(context.Background())
	if err == nil || strings.Contains(err.Error(), fakeDeviceCode) || !strings.Contains(err.Error(), "REDACTED") {
		t.Fatalf("err %q", err)
	}
}

func TestDeviceWaitEndsWithContext(t *testing.T) {
	d := newDeviceAS(t, oauthErr("authorization_pending"))
	dl := startDevice(t, d.client(), &testClock{now: fixedNow})
	dl.Sleep = nil
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// The real timer: a cancelled context ends the wait at once.
	if _, err := dl.Wait(ctx); !errors.Is(err, ErrLoginTimeout) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want ErrLoginTimeout", err)
	}
	if n := len(d.requests("/token")); n != 0 {
		t.Fatalf("%d polls after cancel", n)
	}
}

// TestDeviceTimeoutBacksOff: a poll that times out doubles the interval
// (RFC 8628 §3.5) and polling goes on.
func TestDeviceTimeoutBacksOff(t *testing.T) {
	d := newDeviceAS(t, deviceTokens)
	d.hang = 1
	clock := &testClock{now: fixedNow}
	c := d.client()
	hc := *d.srv.Client()
	hc.Timeout = 100 * time.Millisecond
	c.HTTP = &hc
	tok, err := startDevice(t, c, clock).Wait(context.Background())
	if err != nil || tok.AccessToken.Reveal() != fakeAccess {
		t.Fatalf("Wait: %v", err)
	}
	if want := []time.Duration{5 * time.Second, 10 * time.Second}; !slices.Equal(clock.slept(), want) {
		t.Fatalf("slept %v, want %v", clock.slept(), want)
	}
}

func TestDeviceAuthorizationResponses(t *testing.T) {
	repl := func(old, new string) string { return strings.Replace(goodDeviceAuth, old, new, 1) }
	cases := []struct {
		name     string
		status   int
		body     string
		want     error
		code     string
		interval time.Duration
	}{
		{"good", 200, goodDeviceAuth, nil, "", 5 * time.Second},
		{"no interval", 200, repl(`,"interval":5`, ""), nil, "", 5 * time.Second},
		{"interval 0", 200, repl(`"interval":5`, `"interval":0`), nil, "", 5 * time.Second},
		{"interval 7 as string", 200, repl(`"interval":5`, `"interval":"7"`), nil, "", 7 * time.Second},
		{"Google verification_url", 200, repl(`"verification_uri":`, `"verification_url":`), nil, "", 5 * time.Second},
		{"no complete URI", 200, repl(`"verification_uri_complete":"https://as.example/device?user_code=BCDF-GHJK",`, ""), nil, "", 5 * time.Second},
		{"invalid_client", 401, oauthErr("invalid_client"), ErrInvalidClient, "invalid_client", 0},
		{"unauthorized_client", 400, oauthErr("unauthorized_client"), nil, "unauthorized_client", 0},
		{"html 502", 502, "<html>", ErrBadResponse, "", 0},
		{"500 json without error", 500, "{}", ErrBadResponse, "", 0},
		{"no device_code", 200, repl(`"device_code":"`+fakeDeviceCode+`",`, ""), ErrBadResponse, "", 0},
		{"no user_code", 200, repl(`"user_code":"BCDF-GHJK",`, ""), ErrBadResponse, "", 0},
		{"user_code with escapes", 200, repl(`"user_code":"BCDF-GHJK"`, `"user_code":"\u001b[2J"`), ErrBadResponse, "", 0},
		{"user_code too long", 200, repl(`"user_code":"BCDF-GHJK"`, `"user_code":"`+strings.Repeat("B", 65)+`"`), ErrBadResponse, "", 0},
		{"no verification_uri", 200, repl(`"verification_uri":"https://as.example/device",`, ""), ErrBadResponse, "", 0},
		{"http verification_uri", 200, repl(`"verification_uri":"https://as.example/device"`, `"verification_uri":"http://as.example/device"`), ErrBadResponse, "", 0},
		{"javascript complete URI", 200, repl(`"verification_uri_complete":"https://as.example/device?user_code=BCDF-GHJK"`, `"verification_uri_complete":"javascript:alert(1)"`), ErrBadResponse, "", 0},
		{"URI with newline", 200, repl(`"verification_uri":"https://as.example/device"`, `"verification_uri":"https://as.example/\nfake"`), ErrBadResponse, "", 0},
		{"no expires_in", 200, repl(`"expires_in":600,`, ""), ErrBadResponse, "", 0},
		{"expires_in 0", 200, repl(`"expires_in":600`, `"expires_in":0`), ErrBadResponse, "", 0},
		{"expires_in huge", 200, repl(`"expires_in":600`, `"expires_in":99999999999`), ErrBadResponse, "", 0},
		{"interval negative", 200, repl(`"interval":5`, `"interval":-1`), ErrBadResponse, "", 0},
		{"interval huge", 200, repl(`"interval":5`, `"interval":100000`), ErrBadResponse, "", 0},
		{"interval fraction", 200, repl(`"interval":5`, `"interval":2.5`), ErrBadResponse, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newDeviceAS(t, deviceTokens)
			d.devStatus, d.devBody = tc.status, tc.body
			dl, err := d.client().StartDevice(context.Background())
			if tc.want == nil && tc.code == "" {
				if err != nil || dl.Interval != tc.interval || dl.VerificationURI != "https://as.example/device" {
					t.Fatalf("%v %+v", err, dl)
				}
				return
			}
			if dl != nil || err == nil || strings.Contains(err.Error(), fakeDeviceCode) || !printable(err.Error()) {
				t.Fatalf("dl %v, err %q", dl, err)
			}
			var oe *Error
			if tc.code != "" && (!errors.As(err, &oe) || oe.Code != tc.code) {
				t.Fatalf("err %v, want %s", err, tc.code)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestStartDeviceChecks(t *testing.T) {
	d := newDeviceAS(t, deviceTokens)
	c := d.client()
	c.Metadata.DeviceAuthorizationEndpoint = ""
	testkit.WantIs(t, testkit.ErrOf(c.StartDevice(context.Background())), ErrNoDevice, "no endpoint")
	c = d.client()
	c.ExtraAuthParams = url.Values{"client_id": {"evil"}}
	testkit.WantIs(t, testkit.ErrOf(c.StartDevice(context.Background())), ErrConfig, "extra param overriding client_id")
	c = d.client()
	c.Resource, c.Scopes = "", nil
	if _, err := c.StartDevice(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f := d.requests("/device_authorization")[0].Form; f.Has("resource") || f.Has("scope") {
		t.Fatalf("sent %v", f)
	}
	if len(d.requests("/device_authorization")) != 1 {
		t.Fatal("a refused StartDevice reached the server")
	}
}
