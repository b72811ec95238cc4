package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestIntrospectionKeySettings(t *testing.T) {
	ec := testkit.ECKey(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	testkit.NoErr(t, err)
	keyFile := testkit.WriteTemp(t, "key.pem", testkit.PEM(t, ec), 0o600)
	secretFile := testkit.WriteTemp(t, "secret", "backend-secret-0123456789", 0o600)
	base := map[string]string{"AUTH_SERVER_URL": "https://idp.example", "BACKEND_INTROSPECTION": "1",
		"BACKEND_CLIENT_ID": "backend", "BACKEND_CLIENT_KEY_FILE": keyFile}
	with := func(kv ...string) map[string]string { return withVars(base, kv...) }
	c, err := parseConfig(nil, env(base))
	testkit.NoErr(t, err)
	if c.ClientKey.IsZero() || !c.ClientSecret.IsZero() {
		t.Fatalf("BACKEND_CLIENT_KEY_FILE: key set %v, secret set %v", !c.ClientKey.IsZero(), !c.ClientSecret.IsZero())
	}
	if s := c.ClientKey.String(); strings.Contains(s, "PRIVATE") {
		t.Fatalf("the key prints: %s", s)
	}
	cases := []struct {
		env  map[string]string
		want string
	}{
		{with("BACKEND_CLIENT_SECRET_FILE", secretFile), "set BACKEND_CLIENT_SECRET_FILE or BACKEND_CLIENT_KEY_FILE, not both"},
		{with("BACKEND_CLIENT_KEY_FILE", ""), "BACKEND_INTROSPECTION=1 needs BACKEND_CLIENT_ID and BACKEND_CLIENT_SECRET_FILE (or BACKEND_CLIENT_KEY_FILE)"},
		{with("BACKEND_CLIENT_ID", ""), "needs BACKEND_CLIENT_ID"},
		{with("BACKEND_CLIENT_KEY_FILE", keyFile+".missing"), "BACKEND_CLIENT_KEY_FILE:"},
		{with("BACKEND_CLIENT_KEY_FILE", testkit.WriteTemp(t, "not-pem", "hello", 0o600)), "BACKEND_CLIENT_KEY_FILE: client key: not a PEM private key"},
		{with("BACKEND_CLIENT_KEY_FILE", testkit.WriteTemp(t, "rsa1024.pem", testkit.PEM(t, small), 0o600)), "BACKEND_CLIENT_KEY_FILE: client key: RSA key of 1024 bits"},
	}
	if runtime.GOOS != "windows" { // file modes are not checked there
		cases = append(cases, struct {
			env  map[string]string
			want string
		}{with("BACKEND_CLIENT_KEY_FILE", testkit.WriteTemp(t, "loose.pem", testkit.PEM(t, ec), 0o644)), "BACKEND_CLIENT_KEY_FILE:"})
	}
	for _, tc := range cases {
		_, err := parseConfig(nil, env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.env, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "BEGIN") {
			t.Errorf("the error holds the key: %v", err)
		}
	}
}

// TestIntrospectionWithPrivateKeyJWT runs the backend binary with its
// built-in server issuing opaque tokens, and checking them at its own
// /introspect as the resource-server client "backend", which
// authenticates with private_key_jwt (BACKEND_CLIENT_KEY_FILE; the server
// knows its public JWKS). A machine client's token is accepted, twice
// with no cache (a fresh assertion each time, as the server refuses a
// replayed jti). A second backend presenting another key gets its
// introspection refused, and answers 503, never allow.
func TestIntrospectionWithPrivateKeyJWT(t *testing.T) {
	dir := t.TempDir()
	key := testkit.ECKey(t)
	other := testkit.ECKey(t)
	const ciSecret = "ci-client-secret-0123456789"
	clients, err := json.Marshal([]any{
		map[string]any{"client_id": "backend", "jwks": json.RawMessage(testkit.JWKS(t, key)), "introspect": true},
		map[string]any{"client_id": "ci", "client_secret": ciSecret, "scopes": []string{"notes:read"}},
	})
	testkit.NoErr(t, err)
	clientsFile := filepath.Join(dir, "clients.json")
	keyFile, otherFile := filepath.Join(dir, "key.pem"), filepath.Join(dir, "other.pem")
	for f, b := range map[string]string{clientsFile: string(clients), keyFile: testkit.PEM(t, key), otherFile: testkit.PEM(t, other)} {
		testkit.NoErr(t, os.WriteFile(f, []byte(b), 0o600))
	}
	base := testkit.StartBackend(t, "BACKEND_AUTH_SERVER=1", "AUTH_MACHINE_CLIENTS_FILE="+clientsFile, "AUTH_TOKEN_FORMAT=opaque",
		"BACKEND_INTROSPECTION=1", "BACKEND_CLIENT_ID=backend", "BACKEND_CLIENT_KEY_FILE="+keyFile, "BACKEND_INTROSPECTION_CACHE=0")

	// A machine client's opaque token, for the backend's audience.
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"notes:read"}, "resource": {base}}
	req, err := http.NewRequest(http.MethodPost, base+"/token", strings.NewReader(form.Encode()))
	testkit.NoErr(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("ci", ciSecret)
	resp, err := http.DefaultClient.Do(req)
	testkit.NoErr(t, err)
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" || strings.Count(tok.AccessToken, ".") == 2 {
		t.Fatalf("client_credentials: %d, want an opaque token", resp.StatusCode)
	}

	for i := range 2 {
		resp, body := testkit.PostTool(t, base, "whoami", `{}`, tok.AccessToken)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"subject":"ci"`) {
			t.Fatalf("call %d with the introspected token: %d %s", i+1, resp.StatusCode, body)
		}
	}

	// Another backend, trusting the first's server, with a key the server
	// does not know: its introspection is refused (invalid_client), so it
	// cannot check the token and answers 503 with Retry-After.
	second := testkit.StartBackend(t, "AUTH_SERVER_URL="+base, "BACKEND_AUDIENCE="+base, "BACKEND_INTROSPECTION=1", "BACKEND_CLIENT_ID=backend",
		"BACKEND_CLIENT_KEY_FILE="+otherFile)
	resp2, body2 := testkit.PostTool(t, second, "whoami", `{}`, tok.AccessToken)
	if resp2.StatusCode != http.StatusServiceUnavailable || resp2.Header.Get("Retry-After") == "" {
		t.Fatalf("introspection with an unknown key: %d (Retry-After %q) %s, want 503", resp2.StatusCode, resp2.Header.Get("Retry-After"), body2)
	}
}
