package bearer

import (
	"testing"
)

// TestB28_SubjectRequired: a token without sub, with an empty one or with
// null is refused (issue 14, F7). RFC 9068 §2.2 requires sub, and the
// backend keys each caller's data by it: such callers would all share the
// notes of the subject "".
func TestB28_SubjectRequired(t *testing.T) {
	cases := map[string]map[string]any{
		"B28/sub missing": mutate(func(c map[string]any) { delete(c, "sub") }),
		"B28/sub empty":   mutate(func(c map[string]any) { c["sub"] = "" }),
		"B28/sub null":    mutate(func(c map[string]any) { c["sub"] = nil }),
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			for alg, v := range map[string]*Validator{"ES256": keySetValidator(t), "HS256": hmacValidator(t)} {
				tok := signed(t, alg, c, nil)
				expectInvalid(t, v, tok)
				if _, err := v.Validate(bg, tok); reasonOf(err) != reasonSubject {
					t.Errorf("%s: reason %q, want %q", alg, reasonOf(err), reasonSubject)
				}
			}
		})
	}
	if tok, err := hmacValidator(t).Validate(bg, signed(t, "HS256", claimsAt(testNow), nil)); err != nil || tok.Subject != "alice" {
		t.Fatalf("a token with a subject: %+v %v", tok, err)
	}
}
