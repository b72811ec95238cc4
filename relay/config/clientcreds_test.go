package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/relay/policy"
)

func keyPEM(t *testing.T, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func writeKey(t *testing.T, b []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
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
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good := writeKey(t, keyPEM(t, ec), 0o600)
	c, err := checked(t, map[string]string{"RELAY_CLIENT_CREDENTIALS": "1", "RELAY_CLIENT_ID": "ci", "RELAY_CLIENT_KEY_FILE": good})
	if err != nil || !c.ClientCreds || c.ClientKey.IsZero() {
		t.Fatalf("a good key: %v, %+v", err, c)
	}
	if c, err := checked(t, map[string]string{"RELAY_CLIENT_ID": "ci", "RELAY_CLIENT_SECRET": "s"}, "--client-credentials"); err != nil || !c.ClientCreds {
		t.Fatalf("--client-credentials: %v", err)
	}
	var help strings.Builder
	_ = Help(&help, nil)
	for _, want := range []string{"RELAY_CLIENT_KEY_FILE", "RELAY_CLIENT_CREDENTIALS", "--client-credentials"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("help does not name %s", want)
		}
	}
}

func TestClientCredentialsSettingsRefused(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	good := writeKey(t, keyPEM(t, ec), 0o600)
	cases := map[string]struct {
		vars map[string]string
		want string
	}{
		"both":            {map[string]string{"RELAY_CLIENT_ID": "ci", "RELAY_CLIENT_SECRET": "s", "RELAY_CLIENT_KEY_FILE": good}, "not both"},
		"key without id":  {map[string]string{"RELAY_CLIENT_KEY_FILE": good}, "needs RELAY_CLIENT_ID"},
		"mode without id": {map[string]string{"RELAY_CLIENT_CREDENTIALS": "1"}, "needs RELAY_CLIENT_ID"},
		"bad switch":      {map[string]string{"RELAY_CLIENT_CREDENTIALS": "yes please", "RELAY_CLIENT_ID": "ci"}, "want 1 or 0"},
		"P-384":           {map[string]string{"RELAY_CLIENT_ID": "ci", "RELAY_CLIENT_KEY_FILE": writeKey(t, keyPEM(t, p384), 0o600)}, "only P-256"},
		"RSA 1024":        {map[string]string{"RELAY_CLIENT_ID": "ci", "RELAY_CLIENT_KEY_FILE": writeKey(t, keyPEM(t, small), 0o600)}, "at least 2048"},
		"missing":         {map[string]string{"RELAY_CLIENT_ID": "ci", "RELAY_CLIENT_KEY_FILE": filepath.Join(t.TempDir(), "none.pem")}, "RELAY_CLIENT_KEY_FILE"},
	}
	if runtime.GOOS != "windows" {
		cases["group-readable"] = struct {
			vars map[string]string
			want string
		}{map[string]string{"RELAY_CLIENT_ID": "ci", "RELAY_CLIENT_KEY_FILE": writeKey(t, keyPEM(t, ec), 0o640)}, "RELAY_CLIENT_KEY_FILE"}
		link := filepath.Join(t.TempDir(), "link.pem")
		if err := os.Symlink(good, link); err != nil {
			t.Fatal(err)
		}
		cases["symlink"] = struct {
			vars map[string]string
			want string
		}{map[string]string{"RELAY_CLIENT_ID": "ci", "RELAY_CLIENT_KEY_FILE": link}, "RELAY_CLIENT_KEY_FILE"}
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
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pf := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(pf, []byte(`{"disable_client_credentials": true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Load("", pf)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckPolicy(pol); !errors.Is(err, policy.ErrDenied) || !strings.Contains(err.Error(), "disable_client_credentials") {
		t.Fatalf("CheckPolicy: %v", err)
	}
	c.ClientCreds = false
	if err := c.CheckPolicy(pol); err != nil {
		t.Fatalf("a person's sign-in is still allowed: %v", err)
	}
}
