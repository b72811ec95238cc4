package interop

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/keyrelay/keyrelay/vault"
)

// binDir holds the relay, backend and zbrowser binaries, built once.
var binDir string

func TestMain(m *testing.M) {
	// The example provider logs every request through the default slog.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	dir, err := os.MkdirTemp("", "keyrelay-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildErr  error
)

// binaries builds the relay and the backend from the repository root (with
// the product's own go.mod, not this module's) and zbrowser from here.
func binaries(t *testing.T) (relay, backend, browser string) {
	t.Helper()
	buildOnce.Do(func() {
		root, err := filepath.Abs("..")
		if err != nil {
			buildErr = err
			return
		}
		for _, b := range []struct{ dir, pkg string }{
			{root, "github.com/keyrelay/keyrelay/relay"},
			{root, "github.com/keyrelay/keyrelay/backend"},
			{".", "./cmd/zbrowser"},
		} {
			cmd := exec.Command("go", "build", "-o", binDir+string(os.PathSeparator), b.pkg)
			cmd.Dir = b.dir
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "relay"), filepath.Join(binDir, "backend"), filepath.Join(binDir, "zbrowser")
}

// lockedBuffer collects a child's stderr for failure reports.
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

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// baseEnv is PATH and a private HOME: nothing of the caller's keyrelay,
// backend or browser settings leaks into a child.
func baseEnv(home string) []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
}

// startBackend runs the backend binary in JWKS mode: it trusts issuer,
// discovers its keys, and wants aud = audience.
func startBackend(t *testing.T, issuer, audience string) (url string, log *lockedBuffer) {
	t.Helper()
	_, bin, _ := binaries(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	url = "http://" + addr
	cmd := exec.Command(bin)
	cmd.Env = append(baseEnv(t.TempDir()),
		"BACKEND_ADDR="+addr, "AUTH_SERVER_URL="+issuer, "BACKEND_AUDIENCE="+audience, "BACKEND_LOG_LEVEL=debug")
	log = &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
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
			t.Error("backend did not stop within 10s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("backend output:\n%s", log.String())
		}
	})
	probe := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("backend exited before it was ready: %v\n%s", waitErr, log.String())
		default:
		}
		resp, err := probe.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, log
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend not healthy after 15s: %v\n%s", err, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// callBackend calls a backend tool directly over its HTTP API with token.
func callBackend(t *testing.T, backendURL, tool, token string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, backendURL+"/mcp/tools/"+tool, strings.NewReader(`{"arguments":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(b)
}

// relayEnv is one relay configuration against the provider and backend.
type relayEnv struct {
	t         *testing.T
	issuer    string
	backend   string
	dir       string // RELAY_DATA_DIR
	keyFile   string
	browseLog string
	vars      []string
}

func newRelayEnv(t *testing.T, z *zop, backendURL string) *relayEnv {
	t.Helper()
	_, _, browser := binaries(t)
	dir := t.TempDir()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "vault-key.txt")
	if err := os.WriteFile(key, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &relayEnv{t: t, issuer: z.URL, backend: backendURL, dir: filepath.Join(dir, "data"), keyFile: key,
		browseLog: filepath.Join(dir, "browser.log")}
	e.vars = append(baseEnv(dir),
		"RELAY_AUTH_SERVER_URL="+z.URL, "RELAY_BACKEND_URL="+backendURL, "RELAY_CLIENT_ID="+relayClientID,
		"RELAY_SCOPES=openid offline_access", "RELAY_DATA_DIR="+e.dir, "RELAY_VAULT_KEY=file:"+key,
		"RELAY_LOG_LEVEL=debug", "RELAY_LOGIN_TIMEOUT=30s",
		"BROWSER="+browser, "ZBROWSER_USER="+z.User, "ZBROWSER_PASSWORD="+opPassword, "ZBROWSER_LOG="+e.browseLog)
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
	v, err := vault.Open(context.Background(), vault.Options{Dir: e.dir, KeySpec: "file:" + e.keyFile})
	if err != nil {
		e.t.Fatal(err)
	}
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
	if err != nil {
		e.t.Fatal(err)
	}
}

// session is one `relay serve` process driven by mcp-go's stdio client.
type session struct {
	c      *client.Client
	stderr *lockedBuffer
}

func (e *relayEnv) start() *session {
	e.t.Helper()
	relay, _, _ := binaries(e.t)
	stderr := &lockedBuffer{}
	tr := transport.NewStdioWithOptions(relay, e.vars, []string{"serve"}, transport.WithCommandStderrWriter(stderr))
	if err := tr.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	c := client.NewClient(tr)
	if err := c.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	s := &session{c: c, stderr: stderr}
	e.t.Cleanup(func() {
		_ = c.Close()
		if e.t.Failed() {
			e.t.Logf("relay stderr:\n%s", stderr.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = "2025-06-18"
	req.Params.ClientInfo = mcp.Implementation{Name: "interop", Version: "1"}
	if _, err := c.Initialize(ctx, req); err != nil {
		e.t.Fatalf("initialize: %v\n%s", err, stderr.String())
	}
	return s
}

// call runs a tool and returns its text and isError.
func (s *session) call(t *testing.T, name string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	res, err := s.c.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("call %s: %v\nrelay stderr:\n%s", name, err, s.stderr.String())
	}
	var text strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			text.WriteString(tc.Text)
		}
	}
	return text.String(), res.IsError
}

// runCLI runs a relay command to completion.
func (e *relayEnv) runCLI(args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	relay, _, _ := binaries(e.t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, relay, args...)
	cmd.Env = e.vars
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// jwtHeader decodes a compact JWT's protected header.
func jwtHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	h, _, ok := strings.Cut(tok, ".")
	if !ok {
		t.Fatalf("not a JWT (%d bytes, no dot)", len(tok))
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	return m
}
