package browsertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/backend/authserver"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestMain removes the binaries the tests built.
func TestMain(m *testing.M) { testkit.Main(m) }

// backend is a running backend with its built-in authorization server.
type backend struct {
	URL            string // http://127.0.0.1:PORT, the issuer and the resource
	User, Password string
}

// randomHex returns n random bytes in hex.
func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// startBackend runs the backend binary with --auth-server and one user,
// alice, with a random password, on a free loopback port. It waits for
// /healthz and stops the process (SIGTERM, then wait) when the test ends.
func startBackend(t *testing.T) *backend {
	t.Helper()
	b := &backend{User: "alice", Password: randomHex(t, 16)}
	addr := testkit.FreeAddr(t)
	b.URL = "http://" + addr
	// The environment is the test's minus every backend setting, so an
	// outer JWT_SECRET or AUTH_SERVER_URL cannot change the mode. The user
	// goes in AUTH_USERS rather than --user, so the password is not in argv.
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "BACKEND_") || strings.HasPrefix(k, "AUTH_") || strings.HasPrefix(k, "JWT_SECRET") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "BACKEND_ADDR="+addr, "AUTH_USERS="+b.User+":"+b.Password)
	testkit.StartDaemon(t, testkit.Backend(t), env, "--auth-server").WaitHealthy(t, b.URL+"/healthz")
	return b
}

// metadata fetches the RFC 8414 metadata, decoded into the authorization
// server's own type, and checks its issuer and PKCE method.
func (b *backend) metadata(ctx context.Context, t *testing.T) *authserver.Metadata {
	t.Helper()
	var md authserver.Metadata
	testkit.NoErr(t, getJSON(ctx, b.URL+"/.well-known/oauth-authorization-server", &md), "metadata")
	if md.Issuer != b.URL {
		t.Fatalf("metadata issuer = %q, want %q", md.Issuer, b.URL)
	}
	if !slices.Contains(md.CodeChallengeMethodsSupported, "S256") {
		t.Fatalf("metadata code_challenge_methods_supported = %v, want S256", md.CodeChallengeMethodsSupported)
	}
	return &md
}

func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

// callTool calls POST /mcp/tools/{name} with no arguments and the bearer
// token, and returns the status and the decoded CallToolResult.
func (b *backend) callTool(t *testing.T, name, token string) (int, *toolResult, error) {
	t.Helper()
	resp, body := testkit.PostTool(t, b.URL, name, "{}", token)
	var res toolResult
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		return resp.StatusCode, nil, errors.New("tool answer is not JSON")
	}
	return resp.StatusCode, &res, nil
}

type toolResult struct {
	Content []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
	IsError bool `json:"isError"`
}
