package policy

import (
	"errors"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func write(t *testing.T, body string) string { return testkit.WriteTemp(t, "policy.json", body, 0o644) }

func TestLoadMissingSystemFileIsNoPolicy(t *testing.T) {
	p, err := Load(filepath.Join(t.TempDir(), "absent.json"), "")
	if err != nil || !p.Empty() || p.RequireKeychain() || !p.DeviceGrantAllowed() || p.MaxTokenLifetime() != 0 {
		t.Fatalf("Load = %+v, %v", p, err)
	}
	for _, check := range []func(string) error{p.CheckBackend, p.CheckAuthServer, p.CheckIssuer} {
		testkit.NoErr(t, check("https://anything.example"))
	}
	// The extra file must exist: a typo in RELAY_POLICY_FILE is not "no policy".
	if p, err := Load("", filepath.Join(t.TempDir(), "absent.json")); !errors.Is(err, ErrInvalid) || p != nil {
		t.Fatalf("missing RELAY_POLICY_FILE: %v, %v", p, err)
	}
}

// A policy file that cannot be used stops the relay: it is never ignored.
func TestBadPolicyFailsClosed(t *testing.T) {
	cases := map[string]string{
		"not json":          `require_keychain: true`,
		"misspelt setting":  `{"require_keychian": true}`,
		"two objects":       `{"require_keychain": true} {}`,
		"wrong type":        `{"require_keychain": "yes"}`,
		"short duration":    `{"max_token_lifetime": "30s"}`,
		"bad duration":      `{"max_session": "forever"}`,
		"number duration":   `{"max_session": 3600}`,
		"issuer not a URL":  `{"allowed_issuers": ["login.example.com"]}`,
		"host with scheme":  `{"allowed_backend_hosts": ["https://tools.example.com"]}`,
		"host with path":    `{"allowed_auth_server_hosts": ["login.example.com/x"]}`,
		"inner wildcard":    `{"allowed_backend_hosts": ["a.*.example.com"]}`,
		"bare wildcard":     `{"allowed_backend_hosts": ["*"]}`,
		"port not a number": `{"allowed_backend_hosts": ["example.com:https"]}`,
		"too large":         `{"allowed_issuers": ["https://x` + strings.Repeat("a", maxFileSize) + `"]}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			path := write(t, body)
			for _, load := range []func() (*Policy, error){
				func() (*Policy, error) { return Load(path, "") },
				func() (*Policy, error) { return Load("", path) },
			} {
				p, err := load()
				if !errors.Is(err, ErrInvalid) || p != nil {
					t.Fatalf("Load = %v, %v; want ErrInvalid", p, err)
				}
				testkit.Contains(t, "error does not name the file", err.Error(), path)
			}
		})
	}
	testkit.WantIs(t, testkit.ErrOf(Load(t.TempDir(), "")), ErrInvalid, "a directory as policy")
}

// Every file's rules apply: the extra file can only add restrictions.
func TestTwoFilesBothApply(t *testing.T) {
	sys := write(t, `{"allowed_backend_hosts": ["*.corp.example"], "max_token_lifetime": "1h", "allowed_issuers": ["https://login.corp.example"]}`)
	extra := write(t, `{"allowed_backend_hosts": ["tools.corp.example", "evil.example"], "max_token_lifetime": "2h",
		"max_session": "8h", "disable_device_grant": true, "require_keychain": true}`)
	p, err := Load(sys, extra)
	testkit.NoErr(t, err)
	testkit.NoErr(t, p.CheckBackend("https://tools.corp.example/mcp"))
	for _, u := range []string{"https://evil.example", "https://other.corp.example"} {
		testkit.WantIs(t, p.CheckBackend(u), ErrDenied, "%s allowed", u)
	}
	if p.MaxTokenLifetime() != time.Hour || p.MaxSession() != 8*time.Hour || p.DeviceGrantAllowed() || !p.RequireKeychain() {
		t.Fatalf("merged rules wrong: %v %v %v %v", p.MaxTokenLifetime(), p.MaxSession(), p.DeviceGrantAllowed(), p.RequireKeychain())
	}
	testkit.NoErr(t, p.CheckIssuer("https://login.corp.example"))
	// Exact, as the issuer itself is compared: no trailing slash, case or port variants.
	for _, iss := range []string{"https://login.corp.example/", "https://LOGIN.corp.example", "https://login.corp.example:443", "https://login.corp.example/t2"} {
		testkit.WantIs(t, p.CheckIssuer(iss), ErrDenied, "issuer %q allowed", iss)
	}
	if len(p.Summary()) < 8 || len(p.Files()) != 2 {
		t.Fatalf("summary %q, files %q", p.Summary(), p.Files())
	}
	if q := p.WithoutKeychainRule(); q.RequireKeychain() || !p.RequireKeychain() || q.MaxTokenLifetime() != time.Hour {
		t.Fatal("WithoutKeychainRule changed the original or dropped other rules")
	}
}

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, url string
		want         bool
	}{
		{"example.com", "https://example.com/x", true},
		{"example.com", "https://EXAMPLE.com.", true},
		{"example.com", "https://example.com:8443", true},
		{"example.com", "https://a.example.com", false},
		{"example.com", "https://example.com.evil.test", false},
		{"example.com", "https://evilexample.com", false},
		{"example.com:8443", "https://example.com:8443", true},
		{"example.com:8443", "https://example.com", false},
		{"example.com:443", "https://example.com", true},
		{"example.com:80", "http://example.com", true},
		{"*.example.com", "https://a.example.com", true},
		{"*.example.com", "https://a.b.example.com", true},
		{"*.example.com", "https://example.com", false},
		{"*.example.com", "https://aexample.com", false},
		{"*.example.com", "https://example.com.evil.test", false},
		{"127.0.0.1", "http://127.0.0.1:9000", true},
		{"[::1]:9000", "http://[::1]:9000", true},
		{"::1", "http://[::1]:9000", true},
		{"[::1]:9000", "http://[::1]:9001", false},
	}
	for _, c := range cases {
		u, err := url.Parse(c.url)
		testkit.NoErr(t, err)
		if err := checkPattern(c.pattern); err != nil {
			t.Fatalf("pattern %q refused: %v", c.pattern, err)
		}
		if got := Match(c.pattern, u); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.url, got, c.want)
		}
	}
}

func TestNilPolicyAllowsEverything(t *testing.T) {
	var p *Policy
	if !p.Empty() || p.RequireKeychain() || !p.DeviceGrantAllowed() || p.MaxSession() != 0 || p.Summary() != nil ||
		p.CheckBackend("x") != nil || p.CheckIssuer("x") != nil || p.WithoutKeychainRule() != nil {
		t.Fatal("nil policy restricts")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"require_keychain": true, "allowed_backend_hosts": ["*.a.example:443"], "max_session": "8h"}`))
	f.Add([]byte(`{"allowed_issuers": ["https://x"]}`))
	f.Add([]byte(`{"assume_pkce_s256": ["https://login.example/t/v2.0"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			return
		}
		p := &Policy{files: []file{{"fuzz", *r}}}
		_ = p.Summary()
		_ = p.CheckBackend("https://tools.example.com:8443/mcp")
		_ = p.CheckAuthServer("http://[::1]:1/")
		_, _ = p.AssumePKCES256("https://login.example/t/v2.0", "RELAY_ASSUME_PKCE_S256")
	})
}

// TestAssumePKCES256: without the rule the user's one issuer is assumed;
// with it, the files decide (an issuer every file with the rule lists),
// [] forbids every issuer, and a user's issuer outside the lists is
// refused. Comparison is exact.
func TestAssumePKCES256(t *testing.T) {
	const (
		env    = "RELAY_ASSUME_PKCE_S256"
		tenant = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
		other  = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
	)
	load := func(bodies ...string) *Policy {
		t.Helper()
		p := &Policy{}
		for _, b := range bodies {
			path := write(t, b)
			r, err := readFile(path)
			testkit.NoErr(t, err)
			p.files = append(p.files, file{path, *r})
		}
		return p
	}
	issuers := func(as []Assumption) string {
		var out []string
		for _, a := range as {
			out = append(out, a.Issuer+" by "+a.By)
		}
		return strings.Join(out, ", ")
	}
	t.Run("no rule: the user's setting alone", func(t *testing.T) {
		for _, p := range []*Policy{nil, load(`{"allowed_issuers": ["` + tenant + `"]}`)} {
			as, err := p.AssumePKCES256(tenant, env)
			if err != nil || issuers(as) != tenant+" by "+env {
				t.Fatalf("got %q, %v", issuers(as), err)
			}
			if as, err := p.AssumePKCES256("", env); as != nil || err != nil {
				t.Fatalf("nothing named: got %v, %v", as, err)
			}
		}
	})
	t.Run("rule: the policy's issuers, without any setting", func(t *testing.T) {
		p := load(`{"assume_pkce_s256": ["` + tenant + `", "` + tenant + `"]}`)
		for _, user := range []string{"", tenant} {
			as, err := p.AssumePKCES256(user, env)
			if err != nil || len(as) != 1 || as[0].Issuer != tenant || !strings.HasPrefix(as[0].By, "assume_pkce_s256 of ") {
				t.Fatalf("user %q: got %q, %v", user, issuers(as), err)
			}
		}
	})
	t.Run("rule: a user's issuer it does not list is refused", func(t *testing.T) {
		p := load(`{"assume_pkce_s256": ["` + tenant + `"]}`)
		for _, user := range []string{other, tenant + "/", strings.ToUpper(tenant), "https://login.microsoftonline.com"} {
			as, err := p.AssumePKCES256(user, env)
			if !errors.Is(err, ErrDenied) || as != nil || !strings.Contains(err.Error(), "assume_pkce_s256") || !strings.Contains(err.Error(), env) {
				t.Fatalf("user %q: got %q, %v; want ErrDenied naming the rule and the setting", user, issuers(as), err)
			}
		}
	})
	t.Run("empty list forbids", func(t *testing.T) {
		p := load(`{"assume_pkce_s256": []}`)
		testkit.WantIs(t, testkit.ErrOf(p.AssumePKCES256(tenant, env)), ErrDenied, "setting under []")
		if as, err := p.AssumePKCES256("", env); as != nil || err != nil {
			t.Fatalf("got %v, %v", as, err)
		}
		if !strings.Contains(strings.Join(p.Summary(), "\n"), "PKCE S256 assumed for: no issuer") {
			t.Fatalf("summary %q", p.Summary())
		}
	})
	t.Run("two files: only narrower", func(t *testing.T) {
		p := load(`{"assume_pkce_s256": ["`+tenant+`", "`+other+`"]}`, `{"assume_pkce_s256": ["`+other+`", "https://evil.example"]}`)
		as, err := p.AssumePKCES256("", env)
		if err != nil || issuers(as) != other+" by assume_pkce_s256 of "+p.Files()[0] {
			t.Fatalf("got %q, %v", issuers(as), err)
		}
		testkit.WantIs(t, testkit.ErrOf(p.AssumePKCES256(tenant, env)), ErrDenied, "an issuer the second file drops")
		// A second file without the rule changes nothing.
		p = load(`{"assume_pkce_s256": ["`+tenant+`"]}`, `{"max_session": "8h"}`)
		if as, err := p.AssumePKCES256("", env); err != nil || issuers(as) != tenant+" by assume_pkce_s256 of "+p.Files()[0] {
			t.Fatalf("got %q, %v", issuers(as), err)
		}
		if !strings.Contains(strings.Join(p.Summary(), "\n"), "PKCE S256 assumed for: "+tenant+" (no other issuer)") {
			t.Fatalf("summary %q", p.Summary())
		}
	})
	t.Run("bad entries fail closed", func(t *testing.T) {
		for _, iss := range []string{"login.microsoftonline.com/t/v2.0", "https://x.example/?a=b", "https://x.example/#f",
			"https://u:p@x.example/", "ftp://x.example", "https://x.example/a b", ""} {
			if _, err := readFile(write(t, `{"assume_pkce_s256": ["`+iss+`"]}`)); !errors.Is(err, ErrInvalid) {
				t.Errorf("%q accepted: %v", iss, err)
			}
		}
	})
}

// disable_client_credentials in either file turns the mode off, and the
// summary says so; no policy allows it.
func TestClientCredentialsRule(t *testing.T) {
	if !(*Policy)(nil).ClientCredentialsAllowed() {
		t.Fatal("no policy forbids client credentials")
	}
	p, err := Load(write(t, `{"max_session": "8h"}`), write(t, `{"disable_client_credentials": true}`))
	testkit.NoErr(t, err)
	if p.ClientCredentialsAllowed() || !slices.Contains(p.Summary(), "  client credentials: off") {
		t.Fatalf("allowed %v, summary %q", p.ClientCredentialsAllowed(), p.Summary())
	}
}

// allowed_idp_issuers: nil allows any identity provider, a list only
// those (every file's), an empty list none; the summary says which.
func TestAllowedIdPIssuers(t *testing.T) {
	testkit.NoErr(t, (*Policy)(nil).CheckIdPIssuer("https://idp.test"))
	p, err := Load(write(t, `{"allowed_idp_issuers": ["https://idp.test", "https://other.test"]}`), write(t, `{"allowed_idp_issuers": ["https://idp.test"]}`))
	testkit.NoErr(t, err)
	testkit.NoErr(t, p.CheckIdPIssuer("https://idp.test"))
	if err := p.CheckIdPIssuer("https://other.test"); !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "not in allowed_idp_issuers") {
		t.Fatalf("another provider: %v", err)
	}
	if !slices.Contains(p.Summary(), "  identity providers (cross-app access): https://idp.test") {
		t.Fatalf("summary %q", p.Summary())
	}
	off, err := Load(write(t, `{"allowed_idp_issuers": []}`), "")
	testkit.NoErr(t, err)
	if err := off.CheckIdPIssuer("https://idp.test"); !errors.Is(err, ErrDenied) || !slices.Contains(off.Summary(), "  cross-app access: off") {
		t.Fatalf("empty list: %v, summary %q", err, off.Summary())
	}
	if _, err := Parse([]byte(`{"allowed_idp_issuers": ["idp.test"]}`)); err == nil {
		t.Fatal("a provider that is not a URL was accepted")
	}
}
