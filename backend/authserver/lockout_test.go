package authserver

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// from returns a copy of e whose browser (a new one, with its own cookies)
// connects from ip, another loopback address (Linux routes all of
// 127.0.0.0/8 to lo).
func (e *env) from(ip string) *env {
	e.t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	conn, err := d.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		testkit.SkipOrFail(e.t, "cannot connect from "+ip+": "+err.Error())
	}
	conn.Close()
	tr := &http.Transport{DialContext: d.DialContext}
	e.t.Cleanup(tr.CloseIdleConnections)
	c := *e
	c.browser = newBrowser(e.t)
	c.browser.Transport = tr
	return &c
}

// guess posts a password for user on the login form h and reports
// whether it signed in.
func (e *env) guess(h url.Values, user, pw string) bool {
	e.t.Helper()
	r := e.post("/login", url.Values{"request_id": h["request_id"], "csrf_token": h["csrf_token"], "username": {user}, "password": {pw}})
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("login: status %d", r.status)
	}
	return strings.Contains(r.header.Get("Location"), "/consent?")
}

// TestF3_NoLockoutByAThirdParty: wrong passwords for alice from other
// addresses, even past the per-user brake, do not stop alice's right
// password from her own address (issue 14, F3: five wrong passwords from
// anywhere used to lock her out everywhere for a minute, and five a
// minute kept her out for good).
func TestF3_NoLockoutByAThirdParty(t *testing.T) {
	e := newEnv(t)
	attack := func(ip string, n int) {
		a := e.from(ip)
		h := a.startAuthorize(authQuery())
		for range n {
			if a.guess(h, "alice", "wrong-guess") {
				t.Fatal("a wrong password signed in")
			}
		}
	}
	attack("127.0.0.2", 5) // the attack
	e.login(e.startAuthorize(authQuery()), "alice", alicePW)

	// Keep it up from several addresses, past the per-user brake.
	for i, ip := range []string{"127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"} {
		attack(ip, 5)
		if i%2 == 1 {
			e.clock.Advance(time.Minute)
		}
	}
	if !e.s.brake.user.blocked("user:alice") {
		t.Fatal("25 failures in a few minutes did not put on alice's brake")
	}
	e.login(e.startAuthorize(authQuery()), "alice", alicePW)
	if !strings.Contains(e.logs.String(), "rate-limited") {
		t.Fatal("the attack was never rate-limited")
	}
}

// TestF3_GuessingFromOneAddressStaysBounded: half an hour of five guesses
// a minute for alice from one address gets at most brakeFails passwords
// checked (it used to get all 150); once braked, even her right password
// is refused from there, while a fresh address still gets in.
func TestF3_GuessingFromOneAddressStaysBounded(t *testing.T) {
	e := newEnv(t)
	a := e.from("127.0.0.2")
	var h url.Values
	for minute := range 30 {
		if minute%5 == 0 {
			h = a.startAuthorize(authQuery()) // a pending request lives 10 minutes
		}
		for range addrFails {
			if a.guess(h, "alice", "wrong-guess") {
				t.Fatal("a wrong password signed in")
			}
		}
		e.clock.Advance(time.Minute)
	}
	if n := strings.Count(e.logs.String(), "login failed"); n > brakeFails {
		t.Fatalf("%d passwords checked from one address in 30 minutes, want at most %d", n, brakeFails)
	}
	if a.guess(h, "alice", alicePW) {
		t.Fatal("the braked address got a password checked")
	}
	e.login(e.startAuthorize(authQuery()), "alice", alicePW)
}

// An IPv6 host usually holds a whole /64: per-address limits count it as
// one address.
func TestSourceKey(t *testing.T) {
	for remote, want := range map[string]string{
		"192.0.2.7:1234":              "192.0.2.7",
		"[::ffff:192.0.2.7]:1234":     "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:1234": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:1":    "2001:db8:1:2::/64",
		"[fe80::1%eth0]:1":            "fe80::/64",
		"not an address":              "not an address",
		"[2001:db8:1:3:3:4:5:6]:1234": "2001:db8:1:3::/64",
	} {
		r := &http.Request{RemoteAddr: remote}
		if got := sourceKey(r); got != want {
			t.Errorf("sourceKey(%q) = %q, want %q", remote, got, want)
		}
	}
}
