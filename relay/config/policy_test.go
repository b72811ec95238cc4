package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/policy"
)

// policyFile writes a policy file and returns its path.
func policyFile(t *testing.T, body string) string {
	return testkit.WriteTemp(t, "policy.json", body, 0o600)
}

func TestLoadPolicy(t *testing.T) {
	c := &Config{PolicyFile: policyFile(t, `{"disable_device_grant": true}`)}
	pol, err := c.LoadPolicy()
	if err != nil || pol.DeviceGrantAllowed() {
		t.Fatalf("got %v, device grant allowed %v", err, pol.DeviceGrantAllowed())
	}
	c.PolicyFile = policyFile(t, `{"nonsense": 1}`)
	testkit.WantIs(t, testkit.ErrOf(c.LoadPolicy()), policy.ErrInvalid, "a broken file")
}

func TestCheckPolicy(t *testing.T) {
	pol, err := policy.Load("", policyFile(t, `{"allowed_backend_hosts": ["api.example"], "allowed_issuers": ["https://as.example"],
		"allowed_auth_server_hosts": ["as.example", "other.example"]}`))
	testkit.NoErr(t, err)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" = allowed
	}{
		{"allowed", Config{BackendURL: "https://api.example", AuthServerURL: "https://as.example"}, ""},
		{"issuer discovered later", Config{BackendURL: "https://api.example"}, ""},
		{"backend host", Config{BackendURL: "https://evil.example"}, `backend host "evil.example" is not in allowed_backend_hosts`},
		{"MCP URL as the backend", Config{MCPURL: "https://evil.example/mcp"}, `backend host "evil.example"`},
		{"issuer", Config{BackendURL: "https://api.example", AuthServerURL: "https://other.example"}, `"https://other.example" is not in allowed_issuers`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.CheckPolicy(pol)
			if tc.want == "" && err != nil || tc.want != "" && (!errors.Is(err, policy.ErrDenied) || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			testkit.NoErr(t, tc.cfg.CheckPolicy(nil), "a nil policy refused")
		})
	}
}

func TestCheckPolicyAuthServerHost(t *testing.T) {
	pol, err := policy.Load("", policyFile(t, `{"allowed_auth_server_hosts": ["as.example"]}`))
	testkit.NoErr(t, err)
	c := Config{BackendURL: "https://api.example", AuthServerURL: "https://other.example"}
	if err := c.CheckPolicy(pol); !errors.Is(err, policy.ErrDenied) || !strings.Contains(err.Error(), "allowed_auth_server_hosts") {
		t.Fatalf("got %v", err)
	}
}
