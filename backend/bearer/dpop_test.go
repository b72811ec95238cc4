package bearer

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
)

// TestCnfClaim: cnf.jkt is read into the Token; a cnf this package does
// not understand makes the token malformed, never a plain bearer token.
func TestCnfClaim(t *testing.T) {
	v := hmacValidator(t)
	tok, err := v.Validate(context.Background(), signed(t, "HS256", mutate(func(c map[string]any) { c["cnf"] = map[string]any{"jkt": "abc"} }), nil))
	if err != nil || tok.JKT != "abc" {
		t.Fatalf("bound token: %v %+v", err, tok)
	}
	for name, cnf := range map[string]any{
		"x5t#S256":    map[string]any{"x5t#S256": "abc"},
		"jkt and x5t": map[string]any{"jkt": "abc", "x5t#S256": "abc"},
		"empty jkt":   map[string]any{"jkt": ""},
		"jkt number":  map[string]any{"jkt": 5},
		"a string":    "abc",
		"null":        nil,
		"empty":       map[string]any{},
	} {
		t.Run(name, func(t *testing.T) {
			c := mutate(func(c map[string]any) { c["cnf"] = cnf })
			expectInvalid(t, v, signed(t, "HS256", c, nil))
		})
	}
	expectInvalid(t, v, signed(t, "HS256", mutate(func(c map[string]any) { c["CNF"] = map[string]any{"jkt": "abc"} }), nil))
}

func TestCredentialsSchemes(t *testing.T) {
	for h, want := range map[string]string{"Bearer abc": SchemeBearer, "bearer abc": SchemeBearer, "DPoP abc": SchemeDPoP, "dpop abc": SchemeDPoP} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", h)
		_, scheme, err := Credentials(r)
		if err != nil || scheme != want {
			t.Errorf("%q: %q %v", h, scheme, err)
		}
		if _, err := FromRequest(r); (want == SchemeDPoP) != errors.Is(err, ErrMalformedHeader) {
			t.Errorf("FromRequest(%q): %v", h, err)
		}
	}
}

func TestRequestURL(t *testing.T) {
	for _, c := range []struct{ public, path, want string }{
		{"https://api.example", "/mcp/tools/x", "https://api.example/mcp/tools/x"},
		{"https://api.example/", "/mcp/tools/x", "https://api.example/mcp/tools/x"},
		{"https://api.example/base", "/mcp/tools/x", "https://api.example/base/mcp/tools/x"},
		{"https://api.example/base", "/base/mcp/tools/x", "https://api.example/base/mcp/tools/x"},
	} {
		r := httptest.NewRequest("POST", "http://internal:8080"+c.path+"?q=1", nil)
		if got := RequestURL(c.public, r); got != c.want {
			t.Errorf("RequestURL(%q, %q) = %q", c.public, c.path, got)
		}
	}
}
