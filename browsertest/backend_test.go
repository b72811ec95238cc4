package browsertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/backend/authserver"
)

// binDir holds the backend binary, built once per test process.
var (
	binDir    string
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "keyrelay-browsertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "browsertest:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// backendBinary builds github.com/keyrelay/keyrelay/backend from the
// repository root (the parent of this nested module) once per run.
func backendBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("go tool not on PATH: %w", err)
			return
		}
		root, err := filepath.Abs("..")
		if err != nil {
			buildErr = err
			return
		}
		out := filepath.Join(binDir, "backend")
		cmd := exec.Command(goTool, "build", "-o", out, "github.com/keyrelay/keyrelay/backend")
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build backend: %v\n%s", err, b)
			return
		}
		buildBin = out
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

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

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects the backend's stderr for failure reports.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startBackend runs the backend binary with --auth-server and one user,
// alice, with a random password, on a free loopback port. It waits for
// /healthz and stops the process (SIGTERM, then wait) when the test ends.
func startBackend(t *testing.T) *backend {
	t.Helper()
	bin := backendBinary(t)
	b := &backend{User: "alice", Password: randomHex(t, 16)}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	b.URL = "http://" + addr

	cmd := exec.Command(bin, "--auth-server")
	// The environment is the test's minus every backend setting, so an
	// outer JWT_SECRET or AUTH_SERVER_URL cannot change the mode. The user
	// goes in AUTH_USERS rather than --user, so the password is not in argv.
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "BACKEND_") || strings.HasPrefix(k, "AUTH_") || strings.HasPrefix(k, "JWT_SECRET") {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "BACKEND_ADDR="+addr, "AUTH_USERS="+b.User+":"+b.Password)
	var stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start backend: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Error("backend did not stop within 10s of SIGTERM; killed")
		}
		if t.Failed() {
			t.Logf("backend output:\n%s", stderr.String())
		}
	})

	probe := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("backend exited before it was ready: %v\n%s", waitErr, stderr.String())
		default:
		}
		resp, err := probe.Get(b.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return b
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend not healthy after 15s: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metadata fetches the RFC 8414 metadata, decoded into the authorization
// server's own type, and checks its issuer and PKCE method.
func (b *backend) metadata(ctx context.Context, t *testing.T) *authserver.Metadata {
	t.Helper()
	var md authserver.Metadata
	if err := getJSON(ctx, b.URL+"/.well-known/oauth-authorization-server", &md); err != nil {
		t.Fatalf("metadata: %v", err)
	}
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
func (b *backend) callTool(ctx context.Context, name, token string) (int, *toolResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.URL+"/mcp/tools/"+name,
		strings.NewReader(`{"arguments":{}}`))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var res toolResult
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&res); err != nil {
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
