package oauth

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseChallenge(t *testing.T) {
	cases := []struct {
		in   []string
		want Challenge
		ok   bool
	}{
		{[]string{`Bearer resource_metadata="http://127.0.0.1:5002/.well-known/oauth-protected-resource"`},
			Challenge{ResourceMetadata: "http://127.0.0.1:5002/.well-known/oauth-protected-resource"}, true},
		{[]string{`Bearer error="insufficient_scope", scope="notes:write admin", resource_metadata="https://x/y"`},
			Challenge{Error: "insufficient_scope", Scope: []string{"notes:write", "admin"}, ResourceMetadata: "https://x/y"}, true},
		{[]string{`bearer error=invalid_token, error_description="a \"quoted\" thing"`},
			Challenge{Error: "invalid_token", Description: `a "quoted" thing`}, true},
		{[]string{`Basic realm="x", Bearer error="invalid_token"`}, Challenge{Error: "invalid_token"}, true},
		{[]string{`Basic realm="x"`, `Bearer scope="a"`}, Challenge{Scope: []string{"a"}}, true},
		{[]string{`Bearer error="a", error="b"`}, Challenge{Error: "a"}, true},
		{[]string{`Bearer`}, Challenge{}, true},
		{[]string{`Basic realm="x"`}, Challenge{}, false},
		{[]string{`Bearer error="unterminated`}, Challenge{}, true},
		{nil, Challenge{}, false},
		{[]string{"Bearer scope=\"a \\\"b\\\" a c\x01d e\""}, Challenge{Scope: []string{"a", "e"}}, true},
		{[]string{`Bearer scope=" "`}, Challenge{}, true},
		{[]string{"Bearer error=\"" + strings.Repeat("x", 9000) + "\""}, Challenge{}, false},
		// RFC 9449 §7.1: the DPoP challenge, alone or beside Bearer.
		{[]string{`Bearer resource_metadata="https://x/y"`, `DPoP algs="ES256 EdDSA", error="use_dpop_nonce", error_description="nonce"`},
			Challenge{Error: "use_dpop_nonce", Description: "nonce", ResourceMetadata: "https://x/y", DPoP: true, DPoPAlgs: []string{"ES256", "EdDSA"}}, true},
		{[]string{`Bearer error="invalid_token", DPoP algs="ES256"`},
			Challenge{Error: "invalid_token", DPoP: true, DPoPAlgs: []string{"ES256"}}, true},
		{[]string{`DPoP algs="ES256", error="insufficient_scope", scope="admin", resource_metadata="https://x/y"`},
			Challenge{Error: "insufficient_scope", Scope: []string{"admin"}, ResourceMetadata: "https://x/y", DPoP: true, DPoPAlgs: []string{"ES256"}}, true},
	}
	for _, c := range cases {
		got, ok := ParseChallenge(c.in)
		if ok != c.ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %+v %v, want %+v %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func FuzzParseChallenge(f *testing.F) {
	for _, s := range []string{`Bearer error="invalid_token", scope="a b"`, `Basic realm=x, Bearer resource_metadata="u"`, `Bearer a=`, `Bearer a="\`, `,,,`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := ParseChallenge([]string{s})
		if !ok && !reflect.DeepEqual(c, Challenge{}) {
			t.Fatal("data returned without a challenge")
		}
		if len(c.Error)+len(c.Description)+len(c.ResourceMetadata) > len(s) {
			t.Fatal("parsed more than the input")
		}
	})
}
