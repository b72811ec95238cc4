package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/login"
	"github.com/keyrelay/keyrelay/vault"
)

// This file is the client credentials mode (SEP-1046) end to end: the
// real relay and backend binaries, the backend's built-in authorization
// server with two machine clients (a public JWKS, a secret), and the
// relay signing in with an ES256 key from RELAY_CLIENT_KEY_FILE or with
// RELAY_CLIENT_SECRET: no browser, the credential sealed into the vault at
// first use, no secret in any output, file or child environment, and
// nothing left after logout.

const ccSecret = "cc-e2e-secret-6f1d2a9b8c7e" // the machine client's secret

// ccSetup is a backend with machine clients "ci-key" (the JWKS of Key)
// and "ci-secret" (ccSecret), and a relay environment whose vault key
// comes from a command that records its environment (a child process
// of the relay) and whose BROWSER records that it was started.
type ccSetup struct {
	url     string
	env     *testkit.RelayEnv
	keyPEM  string // the private key, PKCS #8 PEM
	keyFile string
	dumps   string // the children's recorded environments
	keyCmd  string // the vault key command
}

func startCC(t *testing.T) *ccSetup { return startCCWith(t) }

// startCCWith is startCC with more settings for the backend.
func startCCWith(t *testing.T, backendEnv ...string) *ccSetup {
	t.Helper()
	if runtime.GOOS != "linux" {
		testkit.SkipOrFail(t, "the children's environments are read from /proc")
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	ecdh, err := priv.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	pt := ecdh.Bytes() // 0x04 || X || Y
	b64 := base64.RawURLEncoding.EncodeToString
	jwk := map[string]string{"kty": "EC", "crv": "P-256", "x": b64(pt[1:33]), "y": b64(pt[33:]), "alg": "ES256", "use": "sig", "kid": "ci"}
	clients, _ := json.Marshal([]any{
		map[string]any{"client_id": "ci-key", "jwks": map[string]any{"keys": []any{jwk}}, "scopes": []string{"notes:read"}},
		map[string]any{"client_id": "ci-secret", "client_secret": ccSecret, "scopes": []string{"notes:read"}},
	})
	srv := t.TempDir()
	clientsFile := filepath.Join(srv, "machines.json")
	if err := os.WriteFile(clientsFile, clients, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := testkit.FreeAddr(t)
	s := &ccSetup{url: "http://" + addr, env: testkit.NewRelayEnv(t), keyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))}
	testkit.StartDaemon(t, testkit.Backend(t), append([]string{"BACKEND_ADDR=" + addr, "BACKEND_AUTH_SERVER=1", "AUTH_MACHINE_CLIENTS_FILE=" + clientsFile}, backendEnv...)).
		WaitHealthy(t, s.url+"/healthz")
	s.keyFile = filepath.Join(s.env.Home, "ci-key.pem")
	if err := os.WriteFile(s.keyFile, []byte(s.keyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	s.dumps = t.TempDir()
	keyCmd := filepath.Join(s.env.Home, "vault-key.sh")
	s.keyCmd = keyCmd
	script := "#!/bin/sh\ncat /proc/$$/environ > '" + s.dumps + "/environ.'$$\nexec cat '" + s.env.KeyFile + "'\n"
	browser := filepath.Join(s.env.Home, "browser.sh")
	if err := os.WriteFile(keyCmd, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(browser, []byte("#!/bin/sh\necho opened > '"+s.dumps+"/browser'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"RELAY_BACKEND_URL": s.url, "RELAY_CLIENT_CREDENTIALS": "1",
		"RELAY_VAULT_KEY": "cmd:" + keyCmd, "BROWSER": browser, "RELAY_LOGIN_TIMEOUT": "20s"} {
		s.env.Vars[k] = v
	}
	return s
}

func (s *ccSetup) vault(t *testing.T) *vault.Vault {
	t.Helper()
	v, err := vault.Open(context.Background(), vault.Options{Dir: s.env.Dir, KeySpec: "cmd:" + s.keyCmd})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// token is the access token stored for client id; "" when none.
func (s *ccSetup) token(t *testing.T, id string) string {
	t.Helper()
	r, err := s.vault(t).Get(context.Background(), vault.Account{Issuer: s.url, ClientID: id, Resource: s.url})
	if errors.Is(err, vault.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return r.AccessToken.Reveal()
}

// expire moves the stored token's expiry into the past.
func (s *ccSetup) expire(t *testing.T, id string) {
	t.Helper()
	expire(t, s.vault(t), vault.Account{Issuer: s.url, ClientID: id, Resource: s.url})
}

func TestClientCredentialsEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name, id string
		cred     func(s *ccSetup) (k, v string)
		secrets  func(s *ccSetup) []string
	}{
		{"private_key_jwt", "ci-key", func(s *ccSetup) (string, string) { return "RELAY_CLIENT_KEY_FILE", s.keyFile },
			func(s *ccSetup) []string { return pemWindows(s.keyPEM) }},
		{"client_secret_basic", "ci-secret", func(*ccSetup) (string, string) { return "RELAY_CLIENT_SECRET", ccSecret },
			func(*ccSetup) []string { return []string{ccSecret} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startCC(t)
			s.env.Vars["RELAY_CLIENT_ID"] = tc.id
			k, v := tc.cred(s)
			s.env.Vars[k] = v
			var outputs []string
			run := func(want int, args ...string) string {
				t.Helper()
				out, errOut, code := s.env.Run(t, args...)
				outputs = append(outputs, out, errOut)
				if code != want {
					t.Fatalf("relay %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, errOut)
				}
				return errOut
			}

			// relay login fetches a token, without a browser, and says whose.
			out := run(0, "login")
			t.Logf("relay login:\n%s", lastLines(out, 2))
			if !strings.Contains(out, "relay: signed in as "+tc.id) {
				t.Fatalf("relay login said:\n%s", out)
			}
			// relay status says who signs in, and that no person does.
			stOut, stErr, code := s.env.Run(t, "status")
			outputs = append(outputs, stOut, stErr)
			if code != 0 || !strings.Contains(stOut, "sign-in:     client credentials of "+tc.id+" (no person signs in") {
				t.Fatalf("relay status: exit %d\n%s%s", code, stOut, stErr)
			}
			first := s.token(t, tc.id)
			if first == "" {
				t.Fatal("no token stored after relay login")
			}
			tokens := []string{first}

			// The credential is sealed in the vault: without it in the
			// environment, an expired token is replaced by a new one.
			delete(s.env.Vars, k)
			s.expire(t, tc.id)
			sess := s.env.Serve(t, "", nil)
			if got := sess.MustCall(t, "whoami", nil); !strings.Contains(got, tc.id) {
				t.Fatalf("whoami: %s", got)
			}
			_ = sess.Close()
			second := s.token(t, tc.id)
			if second == "" || second == first {
				t.Fatal("the expired token was not replaced with a new client_credentials token")
			}
			tokens = append(tokens, second)

			if out := run(0, "logout"); !strings.Contains(out, "logged out") {
				t.Fatalf("relay logout said:\n%s", out)
			}
			// Logout leaves nothing: no token, no stored credential.
			if s.token(t, tc.id) != "" {
				t.Fatal("a token is left after logout")
			}
			_, err := s.vault(t).Get(context.Background(), vault.Account{Issuer: s.url, ClientID: tc.id, Resource: login.SecretResource})
			if !errors.Is(err, vault.ErrNotFound) {
				t.Fatalf("the stored credential after logout: %v, want none", err)
			}
			if _, err := os.Stat(filepath.Join(s.env.Dir, "tokens.age")); err == nil {
				t.Fatal("tokens.age is left after logout")
			}
			// And now without the credential, the sign-in is refused.
			if out := run(3, "login"); !strings.Contains(out, "no RELAY_CLIENT_SECRET or RELAY_CLIENT_KEY_FILE given") {
				t.Fatalf("relay login without credential said:\n%s", out)
			}

			if _, err := os.Stat(filepath.Join(s.dumps, "browser")); err == nil {
				t.Error("a browser was started in the client credentials mode")
			}
			// Nothing secret anywhere: outputs, files, children's environments.
			secrets := append(tc.secrets(s), tokens...)
			secrets = append(secrets, assertionHeader)
			var places []string
			for i, o := range outputs {
				places = append(places, leaks(o, secrets, "output "+string(rune('0'+i)))...)
			}
			for _, dir := range []string{s.env.Home, s.dumps} {
				_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
					if err != nil || d.IsDir() || p == s.keyFile {
						return nil
					}
					b, _ := os.ReadFile(p)
					places = append(places, leaks(string(b), secrets, p)...)
					return nil
				})
			}
			dumps, _ := filepath.Glob(filepath.Join(s.dumps, "environ.*"))
			if len(dumps) == 0 {
				t.Error("no child environment was recorded: the vault key command did not run")
			}
			for _, p := range dumps {
				if b, _ := os.ReadFile(p); strings.Contains(string(b), "RELAY_CLIENT_SECRET=") {
					places = append(places, p+": RELAY_CLIENT_SECRET")
				}
			}
			if len(places) > 0 {
				t.Fatalf("secrets found in: %v", places)
			}
			t.Logf("searched %d values in %d outputs, the files under HOME and %d child environments", len(secrets), len(outputs), len(dumps))
		})
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// assertionHeader is the encoded header of an ES256 client assertion: no
// assertion may be written anywhere.
var assertionHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","typ":"JWT"}`))

// pemWindows is the PEM and each of its base64 lines.
func pemWindows(p string) []string {
	out := []string{p}
	for _, l := range strings.Split(p, "\n") {
		if len(l) >= 16 && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	return out
}

func leaks(text string, secrets []string, where string) []string {
	var out []string
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			out = append(out, where)
		}
	}
	return out
}

// TestClientCredentialsPolicy: disable_client_credentials refuses the
// mode, with exit 2 and the rule's name, before any request.
func TestClientCredentialsPolicy(t *testing.T) {
	s := startCC(t)
	s.env.Vars["RELAY_CLIENT_ID"] = "ci-secret"
	// Without the policy, --device is refused all the same: this mode
	// never starts a device grant.
	if _, errOut, code := s.env.Run(t, "login", "--device"); code != 2 || !strings.Contains(errOut, "--device and client credentials do not mix") {
		t.Fatalf("login --device: exit %d\n%s", code, errOut)
	}
	pol := filepath.Join(s.env.Home, "policy.json")
	if err := os.WriteFile(pol, []byte(`{"disable_client_credentials": true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s.env.Vars["RELAY_POLICY_FILE"] = pol
	s.env.Vars["RELAY_CLIENT_ID"] = "ci-secret"
	s.env.Vars["RELAY_CLIENT_SECRET"] = ccSecret
	_, errOut, code := s.env.Run(t, "login")
	t.Logf("relay login under the policy:\n%s", errOut)
	if code != 2 || !strings.Contains(errOut, "disable_client_credentials") {
		t.Fatalf("exit %d, want 2 naming disable_client_credentials:\n%s", code, errOut)
	}
	if strings.Contains(errOut, ccSecret) {
		t.Fatal("the secret is in the error")
	}
	if s.token(t, "ci-secret") != "" {
		t.Fatal("a token was fetched despite the policy")
	}
}
