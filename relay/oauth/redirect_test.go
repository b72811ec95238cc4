package oauth

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestCallbackPathValidation(t *testing.T) {
	for _, p := range []string{
		"/", "/callback", "/oauth/callback", "/cb/", "/a.b/..c/.d/e.", "/-._~!$&'()*+,;=:@",
		"/" + strings.Repeat("a", maxCallbackPath-1),
	} {
		if err := CheckCallbackPath(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
	}
	f := newFakeAS(t)
	for _, p := range []string{
		"", "callback", "oauth/callback", "//callback", "/oauth//callback", "/oauth/callback//",
		"/.", "/..", "/./callback", "/oauth/../callback", "/oauth/.", "/oauth/..", "/oauth/./",
		"/cb?x=1", "/cb?", "/cb#x", "/cb%2F", "/%63allback", "/c b", "/c\tb", "/c\x00b", "/c\nb", `/c\b`,
		"/c<b>", `/c"b`, "/c{b}", "/c|b", "/c^b", "/c`b", "/c[b]", "/caf\u00e9",
		"/" + strings.Repeat("a", maxCallbackPath),
	} {
		err := CheckCallbackPath(p)
		if err == nil {
			t.Errorf("%q accepted", p)
			continue
		}
		if p != "" && strings.Contains(err.Error(), p) {
			t.Errorf("%q: the error repeats the value: %v", p, err)
		}
		if p == "" { // the Callback field defaults it
			continue
		}
		testkit.ExpectIs(t, testkit.ErrOf(f.client().StartLogin(context.Background(), Callback{Path: p})), ErrConfig, "StartLogin with path %q", p)
	}
}

func TestCallbackHostValidation(t *testing.T) {
	for _, h := range []string{"127.0.0.1", "localhost"} {
		if err := CheckCallbackHost(h); err != nil {
			t.Errorf("%q refused: %v", h, err)
		}
	}
	f := newFakeAS(t)
	for _, h := range []string{
		"0.0.0.0", "::", "[::]", "::1", "[::1]", "127.0.0.2", "127.1", "LOCALHOST", "Localhost", "localhost.",
		"localhost:3334", "127.0.0.1:3334", "evil.example", "localhost.evil.example", " localhost", "192.168.1.1",
	} {
		if err := CheckCallbackHost(h); err == nil {
			t.Errorf("%q accepted", h)
		}
		testkit.ExpectIs(t, testkit.ErrOf(f.client().StartLogin(context.Background(), Callback{Host: h})), ErrConfig, "StartLogin with host %q", h)
	}
	if CheckCallbackHost("") == nil {
		t.Error("an empty host accepted by CheckCallbackHost (only the Callback field defaults it)")
	}
}

func TestCallbackRedirectURI(t *testing.T) {
	for cb, want := range map[Callback]string{
		{}:         DefaultRedirectURI,
		{Port: 80}: "http://127.0.0.1:80/callback",
		{Host: "localhost", Port: 3334, Path: "/oauth/callback"}: "http://localhost:3334/oauth/callback",
		{Host: "localhost", Path: "/oauth/callback"}:             "http://localhost/oauth/callback",
		{Host: "127.0.0.1", Path: "/"}:                           "http://127.0.0.1/",
	} {
		if got := cb.RedirectURI(); got != want {
			t.Errorf("%+v: %q, want %q", cb, got, want)
		}
	}
	if DefaultRedirectURI != "http://127.0.0.1/callback" {
		t.Fatalf("DefaultRedirectURI changed: %q", DefaultRedirectURI)
	}
}

// TestC10_CustomPath: with RELAY_CALLBACK_PATH the server answers on that
// path only, matched as sent; the default path is then a 404 like any other.
func TestC10_CustomPath(t *testing.T) {
	for _, tc := range []struct {
		path  string
		other []string
	}{
		{"/oauth/callback", []string{"/callback", "/", "/favicon.ico", "/oauth", "/oauth/", "/oauth/callback/", "/OAUTH/callback",
			"/oauth%2Fcallback", "/oauth/%63allback", "/oauth/callback/.", "/x/oauth/callback", "//oauth/callback", "/oauth/callback;x"}},
		{"/cb!$&'()*+,;=:@x", []string{"/cb%21$&'()*+,;=:@x", "/cb!$&'()*+,;=:@", "/callback"}},
		{"/", []string{"/callback", "/favicon.ico", "//", "/%2F"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			f := newFakeAS(t)
			l := startLoginAt(t, f.client(), Callback{Path: tc.path})
			want := "http://" + l.host + tc.path
			if l.RedirectURI() != want || authParams(t, l).Get("redirect_uri") != want {
				t.Fatalf("redirect_uri %q (authorization URL %q), want %q", l.RedirectURI(), authParams(t, l).Get("redirect_uri"), want)
			}
			ch := waitAsync(l, context.Background())
			good := goodQuery(t, l).Encode()
			for _, p := range tc.other {
				if status, _, body := hit(t, l, "GET", p, good); status != 404 || body != pageRefused {
					t.Errorf("%s: status %d, want 404", p, status)
				}
			}
			f.wantRequests(t, "/token", 0, "a callback to another path was exchanged")
			completes(t, l, ch)
			if got := f.requests("/token")[0].Form.Get("redirect_uri"); got != want {
				t.Fatalf("token request redirect_uri %q, want %q", got, want)
			}
		})
	}
}

// TestC9_LocalhostHost: with RELAY_CALLBACK_HOST=localhost the redirect URI
// names localhost, and the Host header may be localhost:PORT or the literal
// the connection arrived on; nothing else (no other name, no other port,
// not the other listener's literal).
func TestC9_LocalhostHost(t *testing.T) {
	f := newFakeAS(t)
	l := startLoginAt(t, f.client(), Callback{Host: "localhost", Path: "/oauth/callback"})
	port := l.lns[0].Addr().(*net.TCPAddr).Port
	p := ":" + itoa(port)
	want := "http://localhost" + p + "/oauth/callback"
	if l.host != "localhost"+p || l.RedirectURI() != want || authParams(t, l).Get("redirect_uri") != want {
		t.Fatalf("redirect_uri %q, want %q", authParams(t, l).Get("redirect_uri"), want)
	}
	ch := waitAsync(l, context.Background())
	good := goodQuery(t, l).Encode()
	v4 := "127.0.0.1" + p
	refused := []string{"evil.example" + p, "localhost", "localhost:1", "LOCALHOST" + p, "localhost.evil.example" + p,
		"localhost." + p, "[::1]" + p, "127.0.0.1", "127.0.0.2" + p, "0.0.0.0" + p}
	for _, h := range refused {
		wantCode(t, code(hitAddr(t, v4, "GET", l.path, good, func(r *http.Request) { r.Host = h })), 400, "Host %q on 127.0.0.1", h)
	}
	for _, h := range []string{"localhost" + p, v4} { // accepted: the wrong state proves it got past the Host check
		wantCode(t, code(hitAddr(t, v4, "GET", l.path, "state=wrong&code=x", func(r *http.Request) { r.Host = h })), 400, "Host %q", h)
		wantCode(t, code(hitAddr(t, v4, "GET", "/elsewhere", "", func(r *http.Request) { r.Host = h })), 404, "Host %q was refused before the path check", h)
	}
	if status, _, body := hitAddr(t, v4, "GET", l.path, good, func(r *http.Request) { r.Host = "localhost" + p }); status != 200 || body != pageSuccess {
		t.Fatalf("the real redirect with Host localhost%s: status %d", p, status)
	}
	succeeded(t, ch)
}

// TestC9_LiteralHostAccepted: the IP literal the connection arrived on is
// accepted as the Host (a person pasting the URL with 127.0.0.1).
func TestC9_LiteralHostAccepted(t *testing.T) {
	f := newFakeAS(t)
	l := startLoginAt(t, f.client(), Callback{Host: "localhost"})
	ch := waitAsync(l, context.Background())
	v4 := l.lns[0].Addr().String()
	if status, _, _ := hitAddr(t, v4, "GET", l.path, goodQuery(t, l).Encode()); status != 200 {
		t.Fatalf("Host %s: status %d, want 200", v4, status)
	}
	succeeded(t, ch)
}

// TestC11_LocalhostAlsoListensOnIPv6Loopback: a localhost callback also
// listens on [::1] at the same port, where a browser may try first; the
// default callback does not. Only the [::1] part is skipped on a machine
// without IPv6 loopback.
func TestC11_LocalhostAlsoListensOnIPv6Loopback(t *testing.T) {
	f := newFakeAS(t)
	def := startLogin(t, f.client())
	if len(def.lns) != 1 {
		t.Fatalf("the default callback has %d listeners, want 127.0.0.1 only", len(def.lns))
	}
	l := startLoginAt(t, f.client(), Callback{Host: "localhost"})
	a4 := l.lns[0].Addr().(*net.TCPAddr)
	if !a4.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("first listener on %v, want 127.0.0.1", a4)
	}
	if !hasIPv6Loopback(context.Background()) {
		if len(l.lns) != 1 {
			t.Fatalf("%d listeners without IPv6 loopback", len(l.lns))
		}
		t.Skip("no IPv6 loopback on this machine: the [::1] listener is not tested here")
	}
	if len(l.lns) != 2 {
		t.Fatalf("%d listeners, want 127.0.0.1 and [::1]", len(l.lns))
	}
	a6 := l.lns[1].Addr().(*net.TCPAddr)
	if !a6.IP.Equal(net.IPv6loopback) || a6.Port != a4.Port {
		t.Fatalf("second listener on %v, want [::1]:%d", a6, a4.Port)
	}
	ch := waitAsync(l, context.Background())
	v6 := a6.String()
	good := goodQuery(t, l).Encode()
	for _, h := range []string{"127.0.0.1:" + itoa(a4.Port), "evil.example:" + itoa(a4.Port), "[::2]:" + itoa(a4.Port)} {
		wantCode(t, code(hitAddr(t, v6, "GET", l.path, good, func(r *http.Request) { r.Host = h })), 400, "Host %q on [::1]", h)
	}
	wantCode(t, code(hitAddr(t, v6, "GET", l.path, "state=wrong", func(r *http.Request) { r.Host = v6 })), 400, "Host %s on [::1]", v6)
	wantCode(t, code(hitAddr(t, v6, "GET", "/favicon.ico", "", func(r *http.Request) { r.Host = v6 })), 404, "Host %s on [::1] refused before the path check", v6)
	if status, _, body := hitAddr(t, v6, "GET", l.path, good, func(r *http.Request) { r.Host = l.host }); status != 200 || body != pageSuccess {
		t.Fatalf("the real redirect over [::1]: status %d", status)
	}
	succeeded(t, ch)
	for _, ln := range l.lns {
		wantClosed(t, ln.Addr().String(), "after the login")
	}
}

// TestC11_LocalhostPortTakenOnIPv6: when another process holds [::1] at
// the fixed port, a browser trying ::1 first would hand it the code, so
// the login does not start, and 127.0.0.1 is released.
func TestC11_LocalhostPortTakenOnIPv6(t *testing.T) {
	if !hasIPv6Loopback(context.Background()) {
		t.Skip("no IPv6 loopback on this machine")
	}
	other, err := net.Listen("tcp6", "[::1]:0")
	testkit.NoErr(t, err)
	defer other.Close()
	port := other.Addr().(*net.TCPAddr).Port
	f := newFakeAS(t)
	if l, err := f.client().StartLogin(context.Background(), Callback{Host: "localhost", Port: port}); err == nil {
		l.Close()
		t.Fatal("StartLogin succeeded although [::1] at its port belongs to another process")
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:"+itoa(port))
	if err != nil {
		t.Fatalf("127.0.0.1:%d was not released: %v", port, err)
	}
	ln.Close()
	l := startLoginAt(t, f.client(), Callback{Port: port}) // the default host does not need ::1
	if len(l.lns) != 1 {
		t.Fatalf("%d listeners", len(l.lns))
	}
}

// TestC11_LocalhostRandomPortTakenOnIPv6: with a random port, a port that
// [::1] cannot have is given up (127.0.0.1 released) for another one. Not
// parallel: it replaces listenTCP.
func TestC11_LocalhostRandomPortTakenOnIPv6(t *testing.T) {
	if !hasIPv6Loopback(context.Background()) {
		t.Skip("no IPv6 loopback on this machine")
	}
	real := listenTCP
	defer func() { listenTCP = real }()
	var refused []int
	listenTCP = func(ctx context.Context, network, ip string, port int) (net.Listener, error) {
		if network == "tcp6" && port != 0 && len(refused) < 2 {
			refused = append(refused, port)
			return nil, errors.New("address already in use (test)")
		}
		return real(ctx, network, ip, port)
	}
	f := newFakeAS(t)
	l := startLoginAt(t, f.client(), Callback{Host: "localhost"})
	port := l.lns[0].Addr().(*net.TCPAddr).Port
	if len(refused) != 2 || len(l.lns) != 2 || l.lns[1].Addr().(*net.TCPAddr).Port != port {
		t.Fatalf("refused %v, then listening on %d listeners at port %d", refused, len(l.lns), port)
	}
	for _, p := range refused {
		ln, err := net.Listen("tcp4", "127.0.0.1:"+itoa(p))
		if err != nil && p != port {
			t.Errorf("127.0.0.1:%d was not released: %v", p, err)
		} else if err == nil {
			ln.Close()
		}
	}
	listenTCP = func(ctx context.Context, network, ip string, port int) (net.Listener, error) {
		if network == "tcp6" && port != 0 {
			return nil, errors.New("address already in use (test)")
		}
		return real(ctx, network, ip, port)
	}
	if _, err := f.client().StartLogin(context.Background(), Callback{Host: "localhost"}); err == nil {
		t.Fatal("StartLogin succeeded although [::1] never had the port")
	}
}
