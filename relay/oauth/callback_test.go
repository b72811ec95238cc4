package oauth

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestC4_WrongStateDoesNotEndWait(t *testing.T) {
	f := newFakeAS(t)
	l, ch := begin(t, f)
	for name, q := range map[string]url.Values{
		"missing": {"code": {fakeCode}, "iss": {f.md.Issuer}},
		"wrong":   {"code": {fakeCode}, "state": {"not-the-state"}, "iss": {f.md.Issuer}},
		"empty":   {"code": {fakeCode}, "state": {""}, "iss": {f.md.Issuer}},
		"prefix":  {"code": {fakeCode}, "state": {authParams(t, l).Get("state")[:10]}, "iss": {f.md.Issuer}},
	} {
		wantCode(t, code(hit(t, l, "GET", "/callback", q.Encode())), 400, "%s state", name)
	}
	select {
	case r := <-ch:
		t.Fatalf("a bad state ended the wait: %v", r.err)
	default:
	}
	f.wantRequests(t, "/token", 0, "a code with a bad state was exchanged")
	completes(t, l, ch)
}

func TestC5_ErrorRedirectEndsLoginAsText(t *testing.T) {
	f := newFakeAS(t)
	l, ch := begin(t, f)
	q := url.Values{"error": {"access_denied"}, "error_description": {"<script>alert(1)</script>\x00\nuser said no"},
		"state": {authParams(t, l).Get("state")}, "iss": {f.md.Issuer}}
	status, hdr, body := hit(t, l, "GET", "/callback", q.Encode())
	if status != 400 || body != pageFailure || hdr.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("status %d, content type %q, body %q", status, hdr.Get("Content-Type"), body)
	}
	if has(body, "script") || has(body, "user said no") || has(body, "access_denied") {
		t.Fatal("the page reflects the error")
	}
	r := result(t, ch)
	var oe *Error
	if !errors.Is(r.err, ErrAccessDenied) || !errors.As(r.err, &oe) {
		t.Fatalf("Wait: %v, want an *Error wrapping ErrAccessDenied", r.err)
	}
	if oe.Code != "access_denied" || oe.Description != "<script>alert(1)</script>user said no" {
		t.Fatalf("error not kept as sanitised text: %+v", oe)
	}
	f.wantRequests(t, "/token", 0, "an error redirect was exchanged")
}

func TestC5_AnyErrorCodeEndsLogin(t *testing.T) {
	f := newFakeAS(t)
	l, ch := begin(t, f)
	q := url.Values{"error": {"temporarily_unavailable"}, "state": {authParams(t, l).Get("state")}, "iss": {f.md.Issuer}}
	hit(t, l, "GET", "/callback", q.Encode())
	var oe *Error
	if r := result(t, ch); !errors.As(r.err, &oe) || oe.Code != "temporarily_unavailable" || errors.Is(r.err, ErrAccessDenied) {
		t.Fatalf("Wait: %v", r.err)
	}
}

func TestC6_CodeAndErrorOrRepeatedParams(t *testing.T) {
	f := newFakeAS(t)
	t.Run("repeated params are refused and the wait goes on", func(t *testing.T) {
		l, ch := begin(t, f)
		state := authParams(t, l).Get("state")
		for _, raw := range []string{
			"code=a&code=b&state=" + state + "&iss=" + url.QueryEscape(f.md.Issuer),
			"code=a&state=" + state + "&state=" + state + "&iss=" + url.QueryEscape(f.md.Issuer),
			"code=a&state=" + state + "&iss=" + url.QueryEscape(f.md.Issuer) + "&iss=x",
			"code=a&state=" + state + "&x=1&x=2",
			"code=a;state=" + state,
			"code=%zz&state=" + state,
		} {
			wantCode(t, code(hit(t, l, "GET", "/callback", raw)), 400, "%q", raw)
		}
		completes(t, l, ch)
	})
	t.Run("code and error with the right state fail the login", func(t *testing.T) {
		l, ch := begin(t, f)
		q := goodQuery(t, l)
		q.Set("error", "access_denied")
		wantCode(t, code(hit(t, l, "GET", "/callback", q.Encode())), 400, "code and error")
		if r := result(t, ch); !errors.Is(r.err, ErrBadCallback) {
			t.Fatalf("Wait: %v, want ErrBadCallback", r.err)
		}
	})
	f.wantRequests(t, "/token", 1, "the real redirect only")
}

func TestC7_SingleShotListener(t *testing.T) {
	f := newFakeAS(t)
	l, ch := begin(t, f)
	completes(t, l, ch)
	wantClosed(t, l.host, "after the login")
	f.wantRequests(t, "/token", 1, "one login")
}

func TestC7_SecondCallbackBeforeCloseRefused(t *testing.T) {
	f := newFakeAS(t)
	l := startLogin(t, f.client())
	q := goodQuery(t, l).Encode()
	first := make(chan int, 1)
	go func() { s, _, _ := hit(t, l, "GET", "/callback", q); first <- s }()
	testkit.Eventually(5*time.Second, l.isAccepted) // polling internal state, not waiting for time
	if status, _, body := hit(t, l, "GET", "/callback", q); status != 400 || body != pageRefused {
		t.Fatalf("second callback: status %d", status)
	}
	succeeded(t, waitAsync(l, context.Background()))
	if s := <-first; s != 200 {
		t.Fatalf("first callback: status %d", s)
	}
	f.wantRequests(t, "/token", 1, "the second callback was exchanged")
}

func (l *Login) isAccepted() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.accepted
}

func TestC8_Iss(t *testing.T) {
	f := newFakeAS(t)
	iss := f.md.Issuer
	cases := []struct {
		name       string
		advertised bool
		iss        *string
		wantErr    error
	}{
		{"advertised, matches", true, &iss, nil},
		{"advertised, missing", true, nil, ErrIssuerMismatch},
		{"advertised, other", true, ptr("https://evil.example"), ErrIssuerMismatch},
		{"advertised, trailing slash", true, ptr(iss + "/"), ErrIssuerMismatch},
		{"not advertised, missing", false, nil, nil},
		{"not advertised, other", false, ptr("https://evil.example"), ErrIssuerMismatch},
		{"not advertised, matches", false, &iss, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := f.client()
			c.Metadata.AuthorizationResponseIssParameterSupported = tc.advertised
			l := startLogin(t, c)
			before := len(f.requests("/token"))
			ch := waitAsync(l, context.Background())
			q := goodQuery(t, l)
			q.Del("iss")
			if tc.iss != nil {
				q.Set("iss", *tc.iss)
			}
			hit(t, l, "GET", "/callback", q.Encode())
			r := result(t, ch)
			if !errors.Is(r.err, tc.wantErr) || (tc.wantErr == nil && r.err != nil) {
				t.Fatalf("Wait: %v, want %v", r.err, tc.wantErr)
			}
			sent := len(f.requests("/token")) - before
			if tc.wantErr != nil && sent != 0 {
				t.Fatal("the code was exchanged despite a bad iss")
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestC9_ForeignHostOrMethod(t *testing.T) {
	f := newFakeAS(t)
	l, ch := begin(t, f)
	good := goodQuery(t, l).Encode()
	port := l.host[strings.LastIndex(l.host, ":"):]
	for _, h := range []string{"evil.example" + port, "localhost" + port, "127.0.0.1", "127.0.0.1:1", "[::1]" + port} {
		wantCode(t, code(hit(t, l, "GET", "/callback", good, func(r *http.Request) { r.Host = h })), 400, "Host %q", h)
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "OPTIONS", "HEAD"} {
		status, hdr, _ := hit(t, l, m, "/callback", good)
		if status != 405 || hdr.Get("Allow") != "GET" {
			t.Errorf("%s: status %d, Allow %q, want 405 GET", m, status, hdr.Get("Allow"))
		}
	}
	completes(t, l, ch)
}

func TestC10_OtherPaths404NoSideEffect(t *testing.T) {
	f := newFakeAS(t)
	l, ch := begin(t, f)
	good := goodQuery(t, l).Encode()
	for _, p := range []string{"/", "/favicon.ico", "/callback/", "/Callback", "/x/callback", "//callback"} {
		if status, _, body := hit(t, l, "GET", p, good); status != 404 || body != pageRefused {
			t.Errorf("%s: status %d, want 404", p, status)
		}
	}
	f.wantRequests(t, "/token", 0, "a callback to another path was exchanged")
	completes(t, l, ch)
}

func TestC11_BindsLoopbackOnly(t *testing.T) {
	f := newFakeAS(t)
	l := startLogin(t, f.client())
	addr := l.lns[0].Addr().(*net.TCPAddr)
	if !addr.IP.Equal(net.IPv4(127, 0, 0, 1)) || addr.Port == 0 {
		t.Fatalf("bound %v, want 127.0.0.1 and a real port", addr)
	}
	if want := "http://127.0.0.1:" + itoa(addr.Port) + "/callback"; l.RedirectURI() != want || authParams(t, l).Get("redirect_uri") != want {
		t.Fatalf("redirect_uri %q, want %q", l.RedirectURI(), want)
	}
}

func TestC11_FixedPortAndTimeout(t *testing.T) {
	f := newFakeAS(t)
	probe, err := net.Listen("tcp4", "127.0.0.1:0")
	testkit.NoErr(t, err)
	port := probe.Addr().(*net.TCPAddr).Port
	if _, err := f.client().StartLogin(context.Background(), Callback{Port: port}); err == nil {
		t.Fatal("StartLogin on a busy port succeeded")
	}
	probe.Close()
	l, err := f.client().StartLogin(context.Background(), Callback{Port: port})
	testkit.NoErr(t, err, "StartLogin on a fixed port")
	if l.RedirectURI() != "http://127.0.0.1:"+itoa(port)+"/callback" {
		t.Fatalf("redirect %q", l.RedirectURI())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.Wait(ctx); !errors.Is(err, ErrLoginTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait: %v, want ErrLoginTimeout", err)
	}
	wantClosed(t, l.host, "after the timeout")
	testkit.WantIs(t, testkit.ErrOf(l.Wait(context.Background())), ErrConfig, "second Wait")
	testkit.WantIs(t, testkit.ErrOf(f.client().StartLogin(context.Background(), Callback{Port: 70000})), ErrConfig, "port 70000")
}

// TestC12_SlowHeadersAndHugeQuery is not parallel: it shortens the header
// timeout.
func TestC12_SlowHeadersAndHugeQuery(t *testing.T) {
	old := readHeaderTimeout
	readHeaderTimeout = 200 * time.Millisecond
	defer func() { readHeaderTimeout = old }()
	f := newFakeAS(t)
	l := startLogin(t, f.client())
	if l.srv.MaxHeaderBytes == 0 || l.srv.MaxHeaderBytes > 64<<10 || l.srv.ReadHeaderTimeout != 200*time.Millisecond {
		t.Fatalf("server limits: MaxHeaderBytes %d, ReadHeaderTimeout %v", l.srv.MaxHeaderBytes, l.srv.ReadHeaderTimeout)
	}
	ch := waitAsync(l, context.Background())

	conn, err := net.Dial("tcp", l.host)
	testkit.NoErr(t, err)
	defer conn.Close()
	_, _ = conn.Write([]byte("GET /callback HTTP/1.1\r\nHost: " + l.host + "\r\nX-Slow: "))
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := bufio.NewReader(conn).ReadString('\n'); err == nil {
		// Go may answer 408 before closing; either way the server ended it.
		t.Log("server answered the slow request before closing it")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept a slow header open")
	}

	huge := goodQuery(t, l)
	huge.Set("pad", strings.Repeat("A", 64<<10))
	wantCode(t, code(hit(t, l, "GET", "/callback", huge.Encode())), http.StatusRequestHeaderFieldsTooLarge, "64 KiB query")
	long := goodQuery(t, l)
	long.Set("pad", strings.Repeat("A", maxQuery))
	wantCode(t, code(hit(t, l, "GET", "/callback", long.Encode())), 400, "%d byte query", len(long.Encode()))
	completes(t, l, ch)
}

func TestC13_StaticPageHeaders(t *testing.T) {
	f := newFakeAS(t)
	l, ch := begin(t, f)
	marker := "<b>reflected-marker</b>"
	check := func(what string, hdr http.Header, body string) {
		t.Helper()
		for k, want := range map[string]string{
			"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
			"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": pageCSP,
			"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
		} {
			if hdr.Get(k) != want {
				t.Errorf("%s: %s = %q, want %q", what, k, hdr.Get(k), want)
			}
		}
		if has(body, "reflected-marker") || has(body, fakeCode) || has(body, "<script") {
			t.Errorf("%s: the page reflects a request value", what)
		}
	}
	_, hdr, body := hit(t, l, "GET", "/callback", "state=x&code="+url.QueryEscape(marker))
	check("refused", hdr, body)
	_, hdr, body = hit(t, l, "GET", "/"+url.PathEscape(marker), "")
	check("not found", hdr, body)
	q := goodQuery(t, l)
	q.Set("extra", marker)
	status, hdr, body := hit(t, l, "GET", "/callback", q.Encode())
	if status != 200 || body != pageSuccess {
		t.Fatalf("success page: status %d", status)
	}
	check("success", hdr, body)
	succeeded(t, ch)
	if !strings.Contains(pageCSP, "default-src 'none'") || !strings.Contains(pageCSP, "frame-ancestors 'none'") {
		t.Fatal("CSP is not strict")
	}
}

func TestFailedExchangeShowsFailurePage(t *testing.T) {
	f := newFakeAS(t)
	f.setToken(func(url.Values) (int, string) { return 400, `{"error":"invalid_grant"}` })
	l, ch := begin(t, f)
	if status, _, body := hit(t, l, "GET", "/callback", goodQuery(t, l).Encode()); status != 400 || body != pageFailure {
		t.Fatalf("status %d, body %q", status, body)
	}
	if r := result(t, ch); !errors.Is(r.err, ErrInvalidGrant) {
		t.Fatalf("Wait: %v", r.err)
	}
}

func TestCloseWithoutWait(t *testing.T) {
	f := newFakeAS(t)
	l, err := f.client().StartLogin(context.Background(), Callback{})
	testkit.NoErr(t, err)
	testkit.NoErr(t, l.Close())
	_ = l.Close()
	wantClosed(t, l.host, "after Close")
}

func itoa(n int) string { return strconv.Itoa(n) }
