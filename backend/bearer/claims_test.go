package bearer

import (
	"errors"
	"testing"
)

// encoding/json matched claim names case-insensitively, so "EXP" was read
// as exp after the numeric-date check had looked only at "exp", and "ISS"
// could silently override iss. Such names are now refused; names that do
// not fold to a claim Validate reads are still ignored.
func TestClaimNameCaseVariantsRefused(t *testing.T) {
	v := hmacValidator(t)
	for _, name := range []string{"ISS", "Exp", "EXP", "AUD", "Client_ID", "ſub", "ſcope", "ıat", "İat", "SCP", "Scope", "AZP", "JTI", "NBF"} {
		t.Run(name, func(t *testing.T) {
			c := claimsAt(testNow)
			c[name] = "4102444800"
			_, err := v.Validate(bg, signed(t, "HS256", c, nil))
			var te *TokenError
			if !errors.As(err, &te) || te.Reason != reasonCase {
				t.Fatalf("member %q: got %v", name, err)
			}
		})
	}
	for _, name := range []string{"Nonce", "client?id", "is", "isss", "scopes", "EXPIRES", "kid"} {
		c := claimsAt(testNow)
		c[name] = "x"
		if _, err := v.Validate(bg, signed(t, "HS256", c, nil)); err != nil {
			t.Fatalf("member %q refused: %v", name, err)
		}
	}
}
