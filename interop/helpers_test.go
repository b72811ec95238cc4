package interop

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/vault"
)

func TestMain(m *testing.M) {
	// The example provider logs every request through the default slog.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	testkit.Main(m)
}

// zbrowser is the scripted browser for the example provider's login page.
func zbrowser(t *testing.T) string {
	return testkit.Build(t, "github.com/keyrelay/keyrelay/interop/cmd/zbrowser")
}

// startBackend runs the backend binary in JWKS mode: it trusts issuer,
// discovers its keys, and wants aud = audience. Its environment is PATH
// and a private HOME: nothing of the caller's backend settings.
func startBackend(t *testing.T, issuer, audience string) string {
	t.Helper()
	addr := testkit.FreeAddr(t)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"BACKEND_ADDR=" + addr, "AUTH_SERVER_URL=" + issuer, "BACKEND_AUDIENCE=" + audience, "BACKEND_LOG_LEVEL=debug"}
	testkit.StartDaemon(t, testkit.Backend(t), env).WaitHealthy(t, "http://"+addr+"/healthz")
	return "http://" + addr
}

// callBackend calls a backend tool directly over its HTTP API with token.
func callBackend(t *testing.T, backendURL, tool, token string) (int, string, string) {
	t.Helper()
	resp, body := testkit.PostTool(t, backendURL, tool, "{}", token)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body
}

// relayEnv is one relay configuration against the provider and backend,
// with zbrowser signing in.
type relayEnv struct {
	*testkit.RelayEnv
	t         *testing.T
	issuer    string
	backend   string
	browseLog string
}

func newRelayEnv(t *testing.T, z *zop, backendURL string) *relayEnv {
	t.Helper()
	e := &relayEnv{RelayEnv: testkit.NewRelayEnv(t), t: t, issuer: z.URL, backend: backendURL}
	e.browseLog = filepath.Join(e.Home, "browser.log")
	for k, v := range map[string]string{
		"RELAY_AUTH_SERVER_URL": z.URL, "RELAY_BACKEND_URL": backendURL, "RELAY_CLIENT_ID": relayClientID,
		"RELAY_SCOPES": "openid offline_access", "RELAY_LOGIN_TIMEOUT": "30s",
		"BROWSER": zbrowser(t), "ZBROWSER_USER": z.User, "ZBROWSER_PASSWORD": opPassword, "ZBROWSER_LOG": e.browseLog,
	} {
		e.Vars[k] = v
	}
	return e
}

// opens counts browser launches; browserLog is everything zbrowser wrote.
func (e *relayEnv) opens() int {
	n := 0
	for _, l := range strings.Split(e.browserLog(), "\n") {
		if l == "open" {
			n++
		}
	}
	return n
}

func (e *relayEnv) browserLog() string {
	b, _ := os.ReadFile(e.browseLog)
	return string(b)
}

func (e *relayEnv) vault() *vault.Vault {
	v, err := vault.Open(context.Background(), vault.Options{Dir: e.Dir, KeySpec: "file:" + e.KeyFile})
	testkit.NoErr(e.t, err)
	return v
}

func (e *relayEnv) account() vault.Account {
	return vault.Account{Issuer: e.issuer, ClientID: relayClientID, Resource: e.backend}
}

// stored returns the relay's stored access and refresh tokens.
func (e *relayEnv) stored() (access, refresh string) {
	e.t.Helper()
	rec, err := e.vault().Get(context.Background(), e.account())
	if err != nil {
		e.t.Fatalf("vault get %+v: %v", e.account(), err)
	}
	return rec.AccessToken.Reveal(), rec.RefreshToken.Reveal()
}

// expireStored moves the stored token's expiry into the past.
func (e *relayEnv) expireStored() {
	e.t.Helper()
	err := e.vault().Update(context.Background(), e.account(), func(r *vault.Record) (*vault.Record, error) {
		if r == nil {
			return nil, fmt.Errorf("no record for %+v", e.account())
		}
		r.Expiry = time.Now().Add(-time.Minute)
		return r, nil
	})
	testkit.NoErr(e.t, err)
}

// start runs `relay serve` driven by mcp-go's client, in the 2025 era.
func (e *relayEnv) start() *testkit.Session {
	e.t.Helper()
	s := e.Serve(e.t, "2025-06-18", nil)
	e.t.Cleanup(func() {
		if e.t.Failed() {
			e.t.Logf("relay stderr:\n%s", s.Stderr.String())
		}
	})
	return s
}
