package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
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

// P4, through discovery: a hostile authorization server whose metadata
// names a right-to-left override in its authorization endpoint is refused
// before its URL can be shown.
func TestP4_HostileMetadataRefusedAtDiscovery(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "token_endpoint": srv.URL + "/token",
			"authorization_endpoint": srv.URL + "/\u202egnp.nigol", "code_challenge_methods_supported": []string{"S256"}})
	}))
	defer srv.Close()
	if _, err := Discover(context.Background(), srv.Client(), srv.URL); !errors.Is(err, ErrBadMetadata) {
		t.Fatalf("Discover: %v, want ErrBadMetadata", err)
	}
}
