package oauth

import (
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// FuzzDecodeExchange: a token exchange answer either gives an ID-JAG (a
// JWT, issued_token_type id-jag, from a 200) or a printable error that
// never holds the ID token sent.
func FuzzDecodeExchange(f *testing.F) {
	f.Add(200, `{"access_token":"a.b.c","issued_token_type":"urn:ietf:params:oauth:token-type:id-jag","token_type":"N_A","expires_in":300}`)
	f.Add(400, `{"error":"invalid_grant","error_description":"`+fuzzSent+`"}`)
	f.Add(200, `{"access_token":"x","issued_token_type":"urn:ietf:params:oauth:token-type:id-jag"}`)
	f.Add(200, `{"access_token":"a.b.c","issued_token_type":"urn:ietf:params:oauth:token-type:id-jag","expires_in":"1e99"}`)
	f.Add(500, `<html>`)
	f.Fuzz(func(t *testing.T, status int, body string) {
		g, err := decodeExchange(status, []byte(body), time.Unix(1700000000, 0), secret.New(fuzzSent))
		if err != nil {
			if g != nil || !printable(err.Error()) || strings.Contains(err.Error(), fuzzSent) {
				t.Fatalf("bad error %q", err)
			}
			return
		}
		if status != 200 || strings.Count(g.Assertion.Reveal(), ".") != 2 {
			t.Fatalf("accepted status %d, assertion of %d dots", status, strings.Count(g.Assertion.Reveal(), "."))
		}
	})
}

// FuzzPeekClaims: any input gives claims or ErrBadIDToken, never a panic;
// the claims are printable and capped.
func FuzzPeekClaims(f *testing.F) {
	f.Add(fakeJWT(map[string]any{"iss": "https://idp", "sub": "alice", "aud": "relay", "exp": 1900000000}))
	f.Add(fakeJWT(map[string]any{"aud": []string{"a", "b"}, "exp": 1.5}))
	f.Add("a.b.c")
	f.Add("..")
	f.Add(fakeJWT(map[string]any{"exp": -1}))
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := PeekClaims(secret.New(tok))
		if err != nil {
			if c != nil || !printable(err.Error()) {
				t.Fatalf("bad error %q", err)
			}
			return
		}
		if !printable(c.Issuer) || !printable(c.Subject) || len(c.Issuer) > 260 || len(c.Subject) > 260 {
			t.Fatalf("claims %q %q", c.Issuer, c.Subject)
		}
	})
}
