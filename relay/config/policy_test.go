package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
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

// TestAssumePKCE: RELAY_ASSUME_PKCE_S256 (or --assume-pkce-s256) is one
// issuer URL, kept as written (compared exactly later); a list or a bad
// URL is a configuration error; the policy may refuse it.
func TestAssumePKCE(t *testing.T) {
	const tenant = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
	parse := func(envVal string, args ...string) (*Config, error) {
		c, _, err := Parse("login", args, env(map[string]string{"RELAY_BACKEND_URL": "https://api.example",
			"RELAY_ASSUME_PKCE_S256": envVal}), io.Discard)
		if err != nil {
			return nil, err
		}
		return c, c.Check()
	}
	for _, in := range []string{tenant, tenant + "/", "http://127.0.0.1:8080/t/v2.0", "https://Login.example/"} {
		c, err := parse(in)
		if err != nil || c.AssumePKCE != in {
			t.Errorf("%q: got %+v, %v; want it kept as written", in, c, err)
		}
	}
	if c, err := parse("https://env.example/t", "--assume-pkce-s256", tenant); err != nil || c.AssumePKCE != tenant {
		t.Errorf("the flag does not win: %v, %v", c, err)
	}
	for _, in := range []string{tenant + " https://other.example", "login.microsoftonline.com/t/v2.0", "http://login.example/t",
		"https://login.example/t?x=1", "https://u:p@login.example/t", "https://login.example/t#f"} {
		if _, err := parse(in); err == nil || !strings.Contains(err.Error(), "RELAY_ASSUME_PKCE_S256") || strings.Contains(err.Error(), "u:p") {
			t.Errorf("%q: got %v; want an error naming the setting, without userinfo", in, err)
		}
	}
	c := &Config{BackendURL: "https://api.example", AssumePKCE: tenant}
	if as := c.AssumedPKCE(nil); len(as) != 1 || as[0].Issuer != tenant || as[0].By != "RELAY_ASSUME_PKCE_S256" {
		t.Fatalf("no policy: %+v", as)
	}
	pol, err := policy.Load("", policyFile(t, `{"assume_pkce_s256": []}`))
	testkit.NoErr(t, err)
	if err := c.CheckPolicy(pol); !errors.Is(err, policy.ErrDenied) || !strings.Contains(err.Error(), "assume_pkce_s256") {
		t.Fatalf("policy [] with the setting: %v", err)
	}
	if as := c.AssumedPKCE(pol); as != nil {
		t.Fatalf("a refused setting is still assumed: %+v", as)
	}
	pol, err = policy.Load("", policyFile(t, `{"assume_pkce_s256": ["`+tenant+`"]}`))
	testkit.NoErr(t, err)
	c.AssumePKCE = ""
	testkit.NoErr(t, c.CheckPolicy(pol), "the policy's issuer, no setting")
	if as := c.AssumedPKCE(pol); len(as) != 1 || as[0].Issuer != tenant {
		t.Fatalf("the policy's issuer: %+v", as)
	}
}

func checked(t *testing.T, vars map[string]string, args ...string) (*Config, error) {
	t.Helper()
	vars["RELAY_BACKEND_URL"] = "https://backend.example"
	c, _, err := Parse("relay", args, env(vars), io.Discard)
	if err != nil {
		return nil, err
	}
	return c, c.Check()
}

func TestClientCredentialsSettings(t *testing.T) {
	ec := testkit.ECKey(t)
	good := testkit.WriteTemp(t, "key.pem", testkit.PEM(t, ec), 0o600)
	c, err := checked(t, map[string]string{"RELAY_CLIENT_CREDENTIALS": "1", "RELAY_CLIENT_ID": "ci", "RELAY_CLIENT_KEY_FILE": good})
	if err != nil || !c.ClientCreds || c.ClientKey.IsZero() {
		t.Fatalf("a good key: %v, %+v", err, c)
	}
	if c, err := checked(t, map[string]string{"RELAY_CLIENT_ID": "ci", "RELAY_CLIENT_SECRET": "s"}, "--client-credentials"); err != nil || !c.ClientCreds {
		t.Fatalf("--client-credentials: %v", err)
	}
	var help strings.Builder
	_ = Help(&help, nil)
	testkit.Contains(t, "help does not name", help.String(), "RELAY_CLIENT_KEY_FILE", "RELAY_CLIENT_CREDENTIALS", "--client-credentials")
}

func TestClientCredentialsSettingsRefused(t *testing.T) {
	ec := testkit.ECKey(t)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	good := testkit.WriteTemp(t, "key.pem", testkit.PEM(t, ec), 0o600)
	type refusal struct {
		vars map[string]string
		want string
	}
	cases := map[string]refusal{
		"both":            {map[string]string{"RELAY_CLIENT_ID": "ci", "RELAY_CLIENT_SECRET": "s", "RELAY_CLIENT_KEY_FILE": good}, "not both"},
		"key without id":  {map[string]string{"RELAY_CLIENT_KEY_FILE": good}, "needs RELAY_CLIENT_ID"},
		"mode without id": {map[string]string{"RELAY_CLIENT_CREDENTIALS": "1"}, "needs RELAY_CLIENT_ID"},
		"bad switch":      {map[string]string{"RELAY_CLIENT_CREDENTIALS": "yes please", "RELAY_CLIENT_ID": "ci"}, "want 1 or 0"},
		"P-384":           {map[string]string{"RELAY_CLIENT_ID": "ci", "RELAY_CLIENT_KEY_FILE": testkit.WriteTemp(t, "key.pem", testkit.PEM(t, p384), 0o600)}, "only P-256"},
		"RSA 1024":        {map[string]string{"RELAY_CLIENT_ID": "ci", "RELAY_CLIENT_KEY_FILE": testkit.WriteTemp(t, "key.pem", testkit.PEM(t, small), 0o600)}, "at least 2048"},
		"missing":         {map[string]string{"RELAY_CLIENT_ID": "ci", "RELAY_CLIENT_KEY_FILE": filepath.Join(t.TempDir(), "none.pem")}, "RELAY_CLIENT_KEY_FILE"},
	}
	if runtime.GOOS != "windows" {
		cases["group-readable"] = refusal{map[string]string{"RELAY_CLIENT_ID": "ci", "RELAY_CLIENT_KEY_FILE": testkit.WriteTemp(t, "key.pem", testkit.PEM(t, ec), 0o640)}, "RELAY_CLIENT_KEY_FILE"}
		link := filepath.Join(t.TempDir(), "link.pem")
		testkit.NoErr(t, os.Symlink(good, link))
		cases["symlink"] = refusal{map[string]string{"RELAY_CLIENT_ID": "ci", "RELAY_CLIENT_KEY_FILE": link}, "RELAY_CLIENT_KEY_FILE"}
	}
	for name, tc := range cases {
		_, err := checked(t, tc.vars)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error saying %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("%s: the error holds the key: %v", name, err)
		}
	}
}

func TestClientCredentialsPolicyRefusal(t *testing.T) {
	c, err := checked(t, map[string]string{"RELAY_CLIENT_CREDENTIALS": "1", "RELAY_CLIENT_ID": "ci", "RELAY_CLIENT_SECRET": "s"})
	testkit.NoErr(t, err)
	pol, err := policy.Load("", policyFile(t, `{"disable_client_credentials": true}`))
	testkit.NoErr(t, err)
	if err := c.CheckPolicy(pol); !errors.Is(err, policy.ErrDenied) || !strings.Contains(err.Error(), "disable_client_credentials") {
		t.Fatalf("CheckPolicy: %v", err)
	}
	c.ClientCreds = false
	testkit.NoErr(t, c.CheckPolicy(pol), "a person's sign-in is still allowed")
}
