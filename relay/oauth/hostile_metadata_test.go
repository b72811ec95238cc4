package oauth

import (
	"errors"
	"testing"
)

// P4: an authorization server's metadata whose endpoints hold a
// right-to-left override, another invisible or control character, or a
// space is refused before any URL is shown to the person.
func TestP4_EndpointsMustBePrintable(t *testing.T) {
	good := func() *Metadata {
		return &Metadata{Issuer: "https://as.example", AuthorizationEndpoint: "https://as.example/authorize",
			TokenEndpoint: "https://as.example/token", CodeChallengeMethodsSupported: []string{"S256"}}
	}
	if err := good().validate(); err != nil {
		t.Fatalf("good metadata: %v", err)
	}
	for _, bad := range []string{
		"https://as.example/\u202eexe.moc-elgoog//:sptth", // right-to-left override
		"https://as.example/\u200bauthorize",              // zero-width space
		"https://as.example/a\x1b[2Jb",                    // a terminal escape
		"https://as.example/a b",
		"https://еxample.com/authorize", // a Cyrillic e
	} {
		md := good()
		md.AuthorizationEndpoint = bad
		if err := md.validate(); !errors.Is(err, ErrBadMetadata) {
			t.Errorf("authorization_endpoint %q: %v, want ErrBadMetadata", bad, err)
		}
		md = good()
		md.RegistrationEndpoint = bad
		if err := md.validate(); !errors.Is(err, ErrBadMetadata) {
			t.Errorf("registration_endpoint %q: %v, want ErrBadMetadata", bad, err)
		}
	}
}
