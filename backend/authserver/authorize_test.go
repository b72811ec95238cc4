package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestA1_UnknownClientOrRedirectShowsErrorPage(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name string
		mod  func(url.Values)
	}{
		{"unknown client_id", func(q url.Values) { q.Set("client_id", "evil") }},
		{"missing client_id", func(q url.Values) { q.Del("client_id") }},
		{"repeated client_id", func(q url.Values) { q.Add("client_id", "relay") }},
		{"unregistered redirect_uri", func(q url.Values) { q.Set("redirect_uri", "https://evil.example/callback") }},
		{"missing redirect_uri", func(q url.Values) { q.Del("redirect_uri") }},
		{"repeated redirect_uri", func(q url.Values) { q.Add("redirect_uri", "http://127.0.0.1:43210/callback") }},
		{"unknown client and bad response_type", func(q url.Values) { q.Set("client_id", "x"); q.Set("response_type", "token") }},
	}
	for _, tc := range cases {
		t.Run("A1/"+tc.name, func(t *testing.T) {
			q := authQuery()
			tc.mod(q)
			r := e.get("/authorize?" + q.Encode())
			wantErrorPage(t, r)
			if strings.Contains(r.body, "evil.example") {
				t.Fatal("error page reflects the redirect URI")
			}
		})
	}
	t.Run("A1/malformed query", func(t *testing.T) {
		wantErrorPage(t, e.get("/authorize?client_id=relay&redirect_uri=%zz"))
	})
}

func TestA2_LoopbackRedirectAnyPort(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		uri string
		ok  bool
	}{
		{"http://127.0.0.1:43210/callback", true},
		{"http://127.0.0.1:1/callback", true},
		{"http://127.0.0.1:65535/callback", true},
		{"http://127.0.0.1/callback", true},
		{"http://[::1]:8080/callback", true},
		{"http://localhost:43210/callback", false},
		{"https://127.0.0.1:43210/callback", false},
		{"http://127.0.0.2:43210/callback", false},
		{"http://127.0.0.1:43210/other", false},
		{"http://127.0.0.1:43210/callback/", false},
		{"http://127.0.0.1:43210/Callback", false},
		{"http://127.0.0.1:43210/callback?x=1", false},
		{"http://127.0.0.1:43210/callback#f", false},
		{"http://127.0.0.1:0/callback", false},
		{"http://127.0.0.1:99999/callback", false},
		{"http://127.0.0.1:080/callback", false},
		{"http://user@127.0.0.1:43210/callback", false},
		{"http://127.0.0.1:80@evil.example/callback", false},
		{"http://[::1%25eth0]:8080/callback", false},
		{"http://[0:0:0:0:0:0:0:1]:8080/callback", false},
		{"//127.0.0.1:43210/callback", false},
		{"http://127.0.0.1:43210\\@evil.example/callback", false},
	}
	for _, tc := range cases {
		t.Run("A2/"+tc.uri, func(t *testing.T) {
			q := authQuery()
			q.Set("redirect_uri", tc.uri)
			r := e.get("/authorize?" + q.Encode())
			if tc.ok {
				if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "/login?") {
					t.Fatalf("status %d location %q, want 303 to login", r.status, r.header.Get("Location"))
				}
				return
			}
			wantErrorPage(t, r)
		})
	}
}

func TestA2_MatchRedirectNonLoopbackIsExact(t *testing.T) {
	cases := []struct {
		reg, req string
		ok       bool
	}{
		{"https://app.example/cb", "https://app.example/cb", true},
		{"https://app.example/cb", "https://app.example:8443/cb", false},
		{"https://app.example/cb", "https://APP.example/cb", false},
		{"https://app.example/cb", "https://app.example/cb?x=1", false},
		{"http://localhost/cb", "http://localhost:1234/cb", false},
		{"http://127.0.0.1/cb?a=1", "http://127.0.0.1:5/cb?a=1", true},
	}
	for _, tc := range cases {
		t.Run("A2/"+tc.reg+"|"+tc.req, func(t *testing.T) {
			if got := matchRedirect(tc.reg, tc.req); got != tc.ok {
				t.Fatalf("matchRedirect = %v, want %v", got, tc.ok)
			}
		})
	}
}

func TestA3_OnlyResponseTypeCode(t *testing.T) {
	e := newEnv(t)
	for _, rt := range []string{"token", "id_token", "code token", "code id_token", "CODE", "none"} {
		t.Run("A3/"+rt, func(t *testing.T) {
			q := authQuery()
			q.Set("response_type", rt)
			r := e.get("/authorize?" + q.Encode())
			wantRedirectError(t, r, "unsupported_response_type")
			loc := r.location(t)
			if loc.Query().Get("state") != "st-123" || loc.Query().Get("iss") != e.s.cfg.Issuer {
				t.Fatalf("error redirect lacks state or iss: %s", loc)
			}
		})
	}
	t.Run("A3/missing", func(t *testing.T) {
		q := authQuery()
		q.Del("response_type")
		wantRedirectError(t, e.get("/authorize?"+q.Encode()), "invalid_request")
	})
}

func TestA4_PKCERequiredS256(t *testing.T) {
	e := newEnv(t)
	cases := map[string]func(url.Values){
		"no challenge": func(q url.Values) { q.Del("code_challenge") },
		"no challenge or method": func(q url.Values) {
			q.Del("code_challenge")
			q.Del("code_challenge_method")
		},
		"method plain":   func(q url.Values) { q.Set("code_challenge_method", "plain") },
		"method missing": func(q url.Values) { q.Del("code_challenge_method") },
		"method s256":    func(q url.Values) { q.Set("code_challenge_method", "s256") },
	}
	for name, mod := range cases {
		t.Run("A4/"+name, func(t *testing.T) {
			q := authQuery()
			mod(q)
			wantRedirectError(t, e.get("/authorize?"+q.Encode()), "invalid_request")
		})
	}
}

func TestA5_ChallengeMustBe43Base64URL(t *testing.T) {
	e := newEnv(t)
	_, good := pkce()
	cases := map[string]string{
		"42 chars":       good[:42],
		"44 chars":       good + "A",
		"padding":        good[:42] + "=",
		"std alphabet +": good[:42] + "+",
		"std alphabet /": good[:42] + "/",
		"newline":        good[:42] + "\n",
		"space":          good[:42] + " ",
		"128 chars":      strings.Repeat("a", 128),
		"non-ascii":      good[:41] + "é",
	}
	for name, ch := range cases {
		t.Run("A5/"+name, func(t *testing.T) {
			wantRedirectError(t, e.get("/authorize?"+authParams(ch).Encode()), "invalid_request")
		})
	}
}

func TestAuthorizeScopeAndRepeats(t *testing.T) {
	e := newEnv(t)
	cases := map[string]struct {
		mod  func(url.Values)
		want string
	}{
		"unknown scope":     {func(q url.Values) { q.Set("scope", "notes:read root") }, "invalid_scope"},
		"bad scope token":   {func(q url.Values) { q.Set("scope", "notes:read\"") }, "invalid_scope"},
		"repeated state":    {func(q url.Values) { q.Add("state", "x") }, "invalid_request"},
		"repeated scope":    {func(q url.Values) { q.Add("scope", "admin"); q.Add("scope", "admin") }, "invalid_request"},
		"state too long":    {func(q url.Values) { q.Set("state", strings.Repeat("s", 2000)) }, "invalid_request"},
		"repeated resource": {func(q url.Values) { q.Add("resource", e.ts.URL); q.Add("resource", e.ts.URL) }, "invalid_request"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			q := authQuery()
			tc.mod(q)
			wantRedirectError(t, e.get("/authorize?"+q.Encode()), tc.want)
		})
	}
	t.Run("POST /authorize is not allowed", func(t *testing.T) {
		r := e.post("/authorize", authQuery())
		if r.status != http.StatusMethodNotAllowed {
			t.Fatalf("status %d", r.status)
		}
	})
}
