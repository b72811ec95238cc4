package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// failLogin posts a login that must fail and returns the page shown next.
func (e *env) failLogin(h url.Values, f url.Values) string {
	e.t.Helper()
	r := e.post("/login", f)
	loc := r.header.Get("Location")
	if r.status != http.StatusSeeOther || !strings.Contains(loc, "/login?") || !strings.Contains(loc, "error=1") {
		e.t.Fatalf("failed login: status %d location %q, want 303 back to the form", r.status, loc)
	}
	page := e.get(loc)
	if page.status != 200 || !strings.Contains(page.body, `class="error"`) || !strings.Contains(page.body, `id="password"`) {
		e.t.Fatalf("form again with an error expected: %d %s", page.status, page.body)
	}
	return page.body
}

func TestA6_LoginCSRFPasswordAndRateLimit(t *testing.T) {
	e := newEnv(t)
	h := e.startAuthorize(authQuery())
	form := func(csrf, user, pw string) url.Values {
		v := url.Values{"request_id": h["request_id"], "username": {user}, "password": {pw}}
		if csrf != "" {
			v.Set("csrf_token", csrf)
		}
		return v
	}
	t.Run("A6/missing csrf", func(t *testing.T) { e.failLogin(h, form("", "alice", alicePW)) })
	t.Run("A6/wrong csrf", func(t *testing.T) { e.failLogin(h, form(h.Get("csrf_token")+"x", "alice", alicePW)) })
	var known, unknown string
	t.Run("A6/wrong password", func(t *testing.T) { known = e.failLogin(h, form(h.Get("csrf_token"), "alice", "nope")) })
	t.Run("A6/unknown user looks the same", func(t *testing.T) {
		unknown = e.failLogin(h, form(h.Get("csrf_token"), "mallory", "nope"))
		if known != unknown {
			t.Fatal("the page for an unknown user differs from the page for a wrong password")
		}
	})
	t.Run("A6/no session cookie", func(t *testing.T) {
		e2 := *e
		e2.t, e2.browser = t, newBrowser(t)
		wantErrorPage(t, e2.post("/login", form(h.Get("csrf_token"), "alice", alicePW)))
	})
	t.Run("A6/rate limited per user, then released", func(t *testing.T) {
		for range 3 { // 2 failures so far for the IP; 5 in total
			e.failLogin(h, form(h.Get("csrf_token"), "alice", "nope"))
		}
		e.failLogin(h, form(h.Get("csrf_token"), "alice", alicePW)) // right password, refused
		if !strings.Contains(e.logs.String(), "rate-limited") {
			t.Fatal("rate limiting not logged")
		}
		e.clock.Advance(61 * time.Second)
		e.login(h, "alice", alicePW)
	})
	if strings.Contains(e.logs.String(), alicePW) || strings.Contains(e.logs.String(), "nope") {
		t.Fatal("a password reached the log")
	}
}

func TestA6_RateLimitPerAddress(t *testing.T) {
	e := newEnv(t)
	h := e.startAuthorize(authQuery())
	for i := range 5 { // five different user names from one address
		e.failLogin(h, url.Values{"request_id": h["request_id"], "csrf_token": h["csrf_token"],
			"username": {"user" + string(rune('a'+i))}, "password": {"x"}})
	}
	e.failLogin(h, url.Values{"request_id": h["request_id"], "csrf_token": h["csrf_token"],
		"username": {"bob"}, "password": {bobPW}})
}

func TestLimiterWindow(t *testing.T) {
	c := newClock()
	l := newLimiter(c.Now, 2, time.Minute)
	l.fail("k")
	c.Advance(30 * time.Second)
	l.fail("k")
	if !l.blocked("k") || l.blocked("other") {
		t.Fatal("want k blocked, other free")
	}
	c.Advance(31 * time.Second) // the first failure ages out
	if l.blocked("k") {
		t.Fatal("k should be free again")
	}
}

func TestA7_PagesCannotBeFramed(t *testing.T) {
	e := newEnv(t)
	r := e.get("/authorize?" + authQuery().Encode())
	loginURL := r.header.Get("Location")
	login := e.get(loginURL)
	h := e.login(hidden(t, login.body), "alice", alicePW)
	consent := e.get("/consent?request_id=" + h.Get("request_id"))
	pages := map[string]resp{
		"login":        login,
		"consent":      consent,
		"device":       e.get("/device"),
		"error page":   e.get("/authorize?client_id=nobody"),
		"expired page": e.get("/login?request_id=nope"),
		"redirect":     r,
	}
	for name, p := range pages {
		t.Run("A7/"+name, func(t *testing.T) {
			if p.header.Get("X-Frame-Options") != "DENY" {
				t.Error("X-Frame-Options is not DENY")
			}
			csp := p.header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("CSP %q", csp)
			}
			if strings.Contains(csp, "form-action") {
				t.Errorf("CSP must not restrict form-action (Chromium applies it to the 303): %q", csp)
			}
			if p.header.Get("Cache-Control") != "no-store" || p.header.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("Cache-Control %q Referrer-Policy %q", p.header.Get("Cache-Control"), p.header.Get("Referrer-Policy"))
			}
			if strings.Contains(p.body, "<script") || strings.Contains(p.body, "src=") || strings.Contains(p.body, "<link") {
				t.Error("page loads scripts or external assets")
			}
		})
	}
	for _, id := range []string{`id="username"`, `id="password"`, `name="username"`, `name="password"`, `id="login"`} {
		if !strings.Contains(login.body, id) {
			t.Errorf("login page lacks %s", id)
		}
	}
	for _, id := range []string{`id="allow"`, `id="deny"`, "notes:read", "notes:write", "relay", "alice"} {
		if !strings.Contains(consent.body, id) {
			t.Errorf("consent page lacks %s", id)
		}
	}
}

func TestA8_PostsAnswer303(t *testing.T) {
	e := newEnv(t)
	check := func(t *testing.T, r resp) {
		t.Helper()
		if r.status != http.StatusSeeOther {
			t.Fatalf("status %d, want 303", r.status)
		}
	}
	t.Run("A8/login failure", func(t *testing.T) {
		h := e.startAuthorize(authQuery())
		check(t, e.post("/login", url.Values{"request_id": h["request_id"], "csrf_token": h["csrf_token"], "username": {"alice"}, "password": {"x"}}))
	})
	t.Run("A8/login success and consent allow", func(t *testing.T) {
		h := e.startAuthorize(authQuery())
		r := e.post("/login", url.Values{"request_id": h["request_id"], "csrf_token": h["csrf_token"], "username": {"alice"}, "password": {alicePW}})
		check(t, r)
		c := hidden(t, e.get(r.header.Get("Location")).body)
		r = e.consent(c, "allow")
		check(t, r)
		loc := r.location(t)
		if loc.Query().Get("code") == "" || loc.Query().Get("state") != "st-123" || loc.Query().Get("iss") != e.s.cfg.Issuer {
			t.Fatalf("redirect lacks code, state or iss: %s", loc)
		}
		if loc.Scheme != "http" || loc.Host != "127.0.0.1:43210" || loc.Path != "/callback" {
			t.Fatalf("redirect went to %s", loc)
		}
	})
	t.Run("A8/consent deny", func(t *testing.T) {
		c := e.login(e.startAuthorize(authQuery()), "bob", bobPW)
		r := e.consent(c, "deny")
		check(t, r)
		loc := r.location(t)
		if loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "st-123" ||
			loc.Query().Get("iss") != e.s.cfg.Issuer || loc.Query().Get("code") != "" {
			t.Fatalf("deny redirect: %s", loc)
		}
	})
	t.Run("A8/device code entry", func(t *testing.T) {
		p := e.get("/device")
		check(t, e.post("/device", url.Values{"csrf_token": hidden(t, p.body)["csrf_token"], "user_code": {"BCDF-GHJK"}}))
	})
}

func TestConsentIsSingleUseAndBound(t *testing.T) {
	e := newEnv(t)
	c := e.login(e.startAuthorize(authQuery()), "alice", alicePW)
	t.Run("wrong csrf shows the form again", func(t *testing.T) {
		r := e.post("/consent", url.Values{"request_id": c["request_id"], "csrf_token": {"x"}, "action": {"allow"}})
		if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "/consent?") {
			t.Fatalf("status %d location %q", r.status, r.header.Get("Location"))
		}
	})
	t.Run("another browser cannot see or answer it", func(t *testing.T) {
		e2 := *e
		e2.t, e2.browser = t, newBrowser(t)
		wantErrorPage(t, e2.get("/consent?request_id="+c.Get("request_id")))
		wantErrorPage(t, e2.consent(c, "allow"))
	})
	if r := e.consent(c, "allow"); r.status != http.StatusSeeOther {
		t.Fatalf("allow: %d", r.status)
	}
	wantErrorPage(t, e.consent(c, "allow")) // second answer
	t.Run("login csrf is rotated after login", func(t *testing.T) {
		h := e.startAuthorize(authQuery())
		c2 := e.login(h, "alice", alicePW)
		if c2.Get("csrf_token") == h.Get("csrf_token") {
			t.Fatal("csrf token not rotated")
		}
	})
	t.Run("pending request expires", func(t *testing.T) {
		h := e.startAuthorize(authQuery())
		e.clock.Advance(requestTTL + time.Second)
		wantErrorPage(t, e.get("/login?request_id="+h.Get("request_id")))
	})
}
