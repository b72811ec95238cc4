package bearer

import (
	"net/http"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func FuzzFromRequest(f *testing.F) {
	for _, s := range []string{"Bearer abc.def.ghi", "bearer x", "Basic Zm9v", "Bearer ", "Bearer a b", "Bearer " + strings.Repeat("a", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{h}
		tok, err := FromRequest(r)
		if err != nil {
			if tok != "" {
				t.Fatal("token returned with an error")
			}
			return
		}
		if tok == "" || len(tok) > MaxTokenSize || !isToken68(tok) || !strings.HasSuffix(h, tok) {
			t.Fatalf("accepted a bad token from %q", h)
		}
	})
}

func FuzzValidate(f *testing.F) {
	f.Add(signed(f, "HS256", claimsAt(testNow), nil))
	f.Add(signed(f, "ES256", claimsAt(testNow), nil))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	hv := hmacValidator(f)
	kv := keySetValidator(f)
	f.Fuzz(func(t *testing.T, raw string) {
		for _, v := range []*Validator{hv, kv} {
			tok, err := v.Validate(bg, raw)
			if err != nil {
				testkit.WantIs(t, err, ErrInvalidToken, "error does not wrap ErrInvalidToken")
				if len(raw) > 16 && strings.Contains(err.Error(), raw) {
					t.Fatal("error echoes the token")
				}
				continue
			}
			if tok.Issuer != testIssuer || tok.Expiry.IsZero() {
				t.Fatalf("accepted a token with wrong claims: %+v", tok)
			}
		}
	})
}
