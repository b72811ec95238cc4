package authserver

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzMatchRedirect checks the redirect URI matcher: whatever it accepts
// is the registered URI itself, or a loopback http URI with the registered
// host, path and query and a valid port, with no user info or fragment.
func FuzzMatchRedirect(f *testing.F) {
	f.Add("http://127.0.0.1/callback", "http://127.0.0.1:5000/callback")
	f.Add("http://[::1]/callback", "http://[::1]:1/callback")
	f.Add("https://app.example/cb", "https://app.example/cb")
	f.Fuzz(func(t *testing.T, registered, requested string) {
		if !matchRedirect(registered, requested) || registered == requested {
			return
		}
		u, err := url.Parse(requested)
		if err != nil {
			t.Fatalf("accepted an unparsable URI %q", requested)
		}
		reg, _ := url.Parse(registered)
		if u.Scheme != "http" || !isLoopbackHost(u.Hostname()) || u.User != nil || u.Fragment != "" ||
			strings.ContainsAny(requested, "#\\") || !validPort(u.Port()) {
			t.Fatalf("accepted %q for %q", requested, registered)
		}
		if u.Hostname() != reg.Hostname() || u.EscapedPath() != reg.EscapedPath() || u.RawQuery != reg.RawQuery {
			t.Fatalf("accepted %q for %q: host, path or query differ", requested, registered)
		}
	})
}

// FuzzParseForm checks the token endpoint's form parser: it never panics,
// and what it accepts has no repeated or empty parameter.
func FuzzParseForm(f *testing.F) {
	f.Add("grant_type=authorization_code&code=abc&code_verifier=x")
	f.Add("a=1&a=2")
	f.Add("a=%zz")
	f.Fuzz(func(t *testing.T, body string) {
		v, oe := parseForm(body)
		if oe != nil {
			if oe.Code != "invalid_request" || len(body) > 8 && strings.Contains(oe.Description, body) {
				t.Fatalf("bad error %+v", oe)
			}
			return
		}
		for k, vs := range v {
			if len(vs) != 1 || vs[0] == "" {
				t.Fatalf("accepted %q = %q", k, vs)
			}
		}
	})
}

// FuzzNormalizeUserCode: the output is empty or 8 letters of the alphabet.
func FuzzNormalizeUserCode(f *testing.F) {
	f.Add("BCDF-GHJK")
	f.Fuzz(func(t *testing.T, in string) {
		out := normalizeUserCode(in)
		if out == "" {
			return
		}
		if len(out) != userCodeLen || strings.Trim(out, userCodeAlphabet) != "" {
			t.Fatalf("normalizeUserCode(%q) = %q", in, out)
		}
	})
}
