package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
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
	dumps   string   // the children's recorded environments
	keyCmd  string   // the vault key command
	outputs []string // what run's commands wrote
}

// startCC starts the backend, with backendEnv as more settings, and the
// relay's set-up (linux only: the environments are read from /proc).
func startCC(t *testing.T, backendEnv ...string) *ccSetup {
	t.Helper()
	if runtime.GOOS != "linux" {
		testkit.SkipOrFail(t, "the children's environments are read from /proc")
	}
	priv := testkit.ECKey(t)
	clients, _ := json.Marshal([]any{
		map[string]any{"client_id": "ci-key", "jwks": json.RawMessage(testkit.JWKS(t, priv)), "scopes": []string{"notes:read"}},
		map[string]any{"client_id": "ci-secret", "client_secret": ccSecret, "scopes": []string{"notes:read"}},
	})
	clientsFile := testkit.WriteTemp(t, "machines.json", string(clients), 0o600)
	s := &ccSetup{env: testkit.NewRelayEnv(t), keyPEM: testkit.PEM(t, priv)}
	s.url = testkit.StartBackend(t, append([]string{"BACKEND_AUTH_SERVER=1", "AUTH_MACHINE_CLIENTS_FILE=" + clientsFile}, backendEnv...)...)
	s.keyFile = filepath.Join(s.env.Home, "ci-key.pem")
	testkit.NoErr(t, os.WriteFile(s.keyFile, []byte(s.keyPEM), 0o600))
	s.dumps = t.TempDir()
	keyCmd := filepath.Join(s.env.Home, "vault-key.sh")
	s.keyCmd = keyCmd
	script := "#!/bin/sh\ncat /proc/$$/environ > '" + s.dumps + "/environ.'$$\nexec cat '" + s.env.KeyFile + "'\n"
	browser := filepath.Join(s.env.Home, "browser.sh")
	testkit.NoErr(t, os.WriteFile(keyCmd, []byte(script), 0o700))
	testkit.NoErr(t, os.WriteFile(browser, []byte("#!/bin/sh\necho opened > '"+s.dumps+"/browser'\n"), 0o700))
	for k, v := range map[string]string{"RELAY_BACKEND_URL": s.url, "RELAY_CLIENT_CREDENTIALS": "1",
		"RELAY_VAULT_KEY": "cmd:" + keyCmd, "BROWSER": browser, "RELAY_LOGIN_TIMEOUT": "20s"} {
		s.env.Vars[k] = v
	}
	return s
}

func (s *ccSetup) vault(t *testing.T) *vault.Vault {
	t.Helper()
	v, err := vault.Open(context.Background(), vault.Options{Dir: s.env.Dir, KeySpec: "cmd:" + s.keyCmd})
	testkit.NoErr(t, err)
	return v
}

// run runs relay args, which must exit with want, and keeps what it
// wrote for noLeaks; it returns its stdout and stderr together.
func (s *ccSetup) run(t *testing.T, want int, args ...string) string {
	t.Helper()
	out, errOut, code := s.env.Run(t, args...)
	s.outputs = append(s.outputs, out, errOut)
	if code != want {
		t.Fatalf("relay %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out + errOut
}

// noLeaks stops the test if any of secrets stands in what run's commands
// wrote or a file under HOME (but skip) or the dumps, or a child's
// environment holds RELAY_CLIENT_SECRET; or if the vault key command
// recorded no environment, or a browser was started.
func (s *ccSetup) noLeaks(t *testing.T, secrets []string, skip string) {
	t.Helper()
	places := testkit.Leaks(secrets, s.outputs, []string{s.env.Home, s.dumps}, skip)
	dumps, _ := filepath.Glob(filepath.Join(s.dumps, "environ.*"))
	for _, p := range dumps {
		if b, _ := os.ReadFile(p); strings.Contains(string(b), "RELAY_CLIENT_SECRET=") {
			places = append(places, p+": RELAY_CLIENT_SECRET")
		}
	}
	if len(dumps) == 0 {
		t.Error("no child environment was recorded: the vault key command did not run")
	}
	if _, err := os.Stat(filepath.Join(s.dumps, "browser")); err == nil {
		t.Error("a browser was started")
	}
	if len(places) > 0 {
		t.Fatalf("secrets found in: %v", places)
	}
	t.Logf("searched %d values in %d outputs, the files under HOME and %d child environments", len(secrets), len(s.outputs), len(dumps))
}

// token is the access token stored for client id; "" when none.
func (s *ccSetup) token(t *testing.T, id string) string {
	t.Helper()
	r, err := s.vault(t).Get(context.Background(), vault.Account{Issuer: s.url, ClientID: id, Resource: s.url})
	if errors.Is(err, vault.ErrNotFound) {
		return ""
	}
	testkit.NoErr(t, err)
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
			// relay login fetches a token, without a browser, and says whose.
			out := s.run(t, 0, "login")
			t.Logf("relay login:\n%s", lastLines(out, 2))
			testkit.Contains(t, "relay login", out, "relay: signed in as "+tc.id)
			// relay status says who signs in, and that no person does.
			testkit.Contains(t, "relay status", s.run(t, 0, "status"), "sign-in:     client credentials of "+tc.id+" (no person signs in")
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

			testkit.Contains(t, "relay logout", s.run(t, 0, "logout"), "logged out")
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
			testkit.Contains(t, "relay login without credential", s.run(t, 3, "login"), "no RELAY_CLIENT_SECRET or RELAY_CLIENT_KEY_FILE given")

			// Nothing secret anywhere: outputs, files, children's environments.
			s.noLeaks(t, append(append(tc.secrets(s), tokens...), assertionHeader), s.keyFile)
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

// TestClientCredentialsPolicy: disable_client_credentials refuses the
// mode, with exit 2 and the rule's name, before any request.
func TestClientCredentialsPolicy(t *testing.T) {
	s := startCC(t)
	s.env.Vars["RELAY_CLIENT_ID"] = "ci-secret"
	// Without the policy, --device is refused all the same: this mode
	// never starts a device grant.
	s.env.Says(t, 2, "login --device", "--device and client credentials do not mix")
	s.env.Vars["RELAY_POLICY_FILE"] = testkit.WriteTemp(t, "policy.json", `{"disable_client_credentials": true}`, 0o600)
	s.env.Vars["RELAY_CLIENT_SECRET"] = ccSecret
	errOut := s.env.Says(t, 2, "login", "disable_client_credentials")
	t.Logf("relay login under the policy:\n%s", errOut)
	if strings.Contains(errOut, ccSecret) {
		t.Fatal("the secret is in the error")
	}
	if s.token(t, "ci-secret") != "" {
		t.Fatal("a token was fetched despite the policy")
	}
}
