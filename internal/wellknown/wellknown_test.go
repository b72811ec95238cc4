package wellknown

import (
	"net/url"
	"reflect"
	"testing"
)

func TestAuthServerURLs(t *testing.T) {
	cases := map[string][]string{
		"https://as.example":  {"https://as.example/.well-known/oauth-authorization-server", "https://as.example/.well-known/openid-configuration"},
		"https://as.example/": {"https://as.example/.well-known/oauth-authorization-server", "https://as.example/.well-known/openid-configuration"},
		"https://as.example/tenant/1": {
			"https://as.example/.well-known/oauth-authorization-server/tenant/1",
			"https://as.example/.well-known/openid-configuration/tenant/1",
			"https://as.example/tenant/1/.well-known/openid-configuration",
		},
	}
	for in, want := range cases {
		u, _ := url.Parse(in)
		if got := AuthServerURLs(u); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v", in, got)
		}
	}
}
