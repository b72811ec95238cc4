// Command demo runs keyrelay's whole chain on this machine, as `make demo`
// does: the backend with its built-in authorization server, then the relay
// driven the way an MCP client drives it (tools/list, then whoami, which
// signs in through the browser), then status and logout.
//
// It uses its own data directory (.demo/ under the working directory), so
// it never touches your real keyrelay vault. The vault key goes in the OS
// keychain when there is one; otherwise in a key file in .demo/, and the
// demo says so.
//
// With no browser on this machine, the relay answers the first call with a
// page and a code to use from any browser; the demo shows them and waits
// for the sign-in (signin.go). DEMO_HEADLESS=1 signs in without a person,
// through the fakebrowser test helper: for the test of this demo, and for
// anyone who only wants to watch.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx)
	if ctx.Err() != nil {
		// Ctrl-C: run has stopped the relay and the backend before returning.
		fmt.Fprintln(os.Stderr, "\ndemo: stopped; the backend and the relay have exited")
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo: error:", err)
		os.Exit(1)
	}
}

type demo struct {
	bin, dir, url, password string
	env                     []string
	// busy: bin/backend's default address was taken, so the demo's
	// backend runs elsewhere (see printClaudeConfig).
	busy     bool
	relayLog *relayLog // the relay's stderr: the screen and relay.log
}

func run(ctx context.Context) error {
	d := &demo{bin: envOr("DEMO_BIN", "bin")}
	wd, _ := os.Getwd()
	d.dir = envOr("DEMO_DIR", filepath.Join(wd, ".demo"))
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return err
	}
	// Start clean, removing only what an earlier demo run left here.
	for _, f := range []string{"data", "backend.log", "relay.log", "vault-key.txt"} {
		if err := os.RemoveAll(filepath.Join(d.dir, f)); err != nil {
			return err
		}
	}
	stopBackend, err := d.startBackend(ctx)
	if err != nil {
		return err
	}
	defer stopBackend()
	if err := d.relayEnv(ctx); err != nil {
		return err
	}
	if err := d.session(ctx); err != nil {
		return err
	}
	d.cli(ctx, "status")
	d.cli(ctx, "logout")
	d.cli(ctx, "status")
	d.printClaudeConfig(os.Stdout)
	return nil
}

func step(format string, a ...any) { fmt.Printf("\n== "+format+"\n", a...) }

// startBackend runs bin/backend --auth-server on its default address, or
// on a free loopback port when that one is busy, with a demo user whose
// password is generated here and printed once.
func (d *demo) startBackend(ctx context.Context) (func(), error) {
	addr := backendAddr
	if ln, err := net.Listen("tcp", addr); err != nil {
		ln2, err2 := net.Listen("tcp", "127.0.0.1:0")
		if err2 != nil {
			return nil, err2
		}
		addr = ln2.Addr().String()
		ln2.Close()
		d.busy = true
	} else {
		ln.Close()
	}
	d.url = "http://" + addr
	var b [9]byte
	_, _ = rand.Read(b[:])
	d.password = base64.RawURLEncoding.EncodeToString(b[:])
	step("1. starting the backend with its built-in authorization server on %s", d.url)
	if d.busy {
		fmt.Printf("   (%s is busy on this machine, so the demo uses another port)\n", backendAddr)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(d.bin, "backend"), "--auth-server")
	// On Ctrl-C, ask it to stop (as stop does) rather than kill it.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), "BACKEND_ADDR="+addr, "AUTH_USERS=demo:"+d.password)
	logf, err := os.OpenFile(filepath.Join(d.dir, "backend.log"), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start backend (run `make build` first): %w", err)
	}
	stop := func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait(); logf.Close() }
	if err := waitHealthy(ctx, d.url); err != nil {
		stop()
		return nil, err
	}
	algs, err := dpopAlgs(ctx, d.url)
	if err != nil {
		stop()
		return nil, err
	}
	fmt.Println(dpopLine(algs))
	fmt.Printf("   sign in as user \"demo\" with password: %s\n", d.password)
	fmt.Printf("   (backend log: %s)\n", filepath.Join(d.dir, "backend.log"))
	return stop, nil
}

func waitHealthy(ctx context.Context, url string) error {
	for i := 0; i < 100; i++ {
		if r, err := http.Get(url + "/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("the backend did not become healthy")
}

// relayEnv sets the relay's environment: the demo's own data dir, the
// keychain when there is one, else a key file in .demo/.
func (d *demo) relayEnv(ctx context.Context) error {
	d.env = append(os.Environ(), "RELAY_BACKEND_URL="+d.url, "RELAY_AUTH_SERVER_URL="+d.url,
		"RELAY_DATA_DIR="+filepath.Join(d.dir, "data"))
	if os.Getenv("RELAY_VAULT_KEY") == "" && !hasSessionBus() {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return err
		}
		key := filepath.Join(d.dir, "vault-key.txt")
		if err := os.WriteFile(key, []byte(id.String()+"\n"), 0o600); err != nil {
			return err
		}
		d.env = append(d.env, "RELAY_VAULT_KEY=file:"+key)
		fmt.Printf("   no OS keychain in this session: the demo keeps the vault key in %s (mode 0600)\n", key)
	}
	if os.Getenv("DEMO_HEADLESS") == "1" {
		d.env = append(d.env, "BROWSER="+filepath.Join(d.bin, "fakebrowser"), "FAKEBROWSER_USER=demo", "FAKEBROWSER_PASSWORD="+d.password)
		fmt.Println("   DEMO_HEADLESS=1: a scripted browser signs in instead of you")
	}
	return nil
}

func hasSessionBus() bool {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return true
	}
	_, err := os.Stat(fmt.Sprintf("/run/user/%d/bus", os.Getuid()))
	return err == nil
}

// session drives the relay over stdio the way Claude Code does.
func (d *demo) session(ctx context.Context) error {
	step("2. starting the relay as an MCP stdio server (as Claude Code would)")
	log, err := newRelayLog(filepath.Join(d.dir, "relay.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	d.relayLog = log
	c, err := client.NewStdioMCPClientWithOptions(filepath.Join(d.bin, "relay"), d.env, []string{"serve"},
		transport.WithCommandStderrWriter(log))
	if err != nil {
		return err
	}
	defer c.Close()
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = "2025-06-18"
	init.Params.ClientInfo = mcp.Implementation{Name: "keyrelay-demo", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	tools, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		return err
	}
	var names []string
	for _, t := range tools.Tools {
		names = append(names, t.Name)
	}
	fmt.Printf("   tools/list: %s\n", strings.Join(names, ", "))
	step("3. calling whoami: it needs a sign-in, so your browser opens (with no browser, the demo shows where to sign in)")
	out, err := d.signIn(ctx, c, "whoami")
	if err != nil {
		return err
	}
	fmt.Printf("   whoami answered through the relay:\n%s\n", indent(out))
	step("4. calling whoami again: the token comes from memory, no browser opens")
	if _, err := callTool(ctx, c, "whoami"); err != nil {
		return err
	}
	fmt.Println("   answered without a new sign-in")
	return nil
}

func callTool(ctx context.Context, c *client.Client, name string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	text, failed, err := call(ctx, c, name)
	if err != nil {
		return "", err
	}
	if failed {
		return "", fmt.Errorf("%s failed: %s", name, text)
	}
	return text, nil
}

// call calls the tool name once: its text, and whether it is an isError
// result (err is for a call that got no result).
func call(ctx context.Context, c *client.Client, name string) (text string, failed bool, err error) {
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	res, err := c.CallTool(ctx, req)
	if err != nil {
		return "", false, err
	}
	var b strings.Builder
	for _, ct := range res.Content {
		if t, ok := ct.(mcp.TextContent); ok {
			b.WriteString(t.Text)
		}
	}
	return b.String(), res.IsError, nil
}

func (d *demo) cli(ctx context.Context, args ...string) {
	step("relay %s", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, filepath.Join(d.bin, "relay"), args...)
	cmd.Env = d.env
	cmd.Stdout, cmd.Stderr = prefixWriter("   "), prefixWriter("   ")
	if err := cmd.Run(); err != nil {
		fmt.Printf("   (exit: %v)\n", err)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func indent(s string) string {
	return "     " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n     ")
}

type linePrefixer struct{ prefix string }

func prefixWriter(p string) *linePrefixer { return &linePrefixer{prefix: p} }

func (l *linePrefixer) Write(b []byte) (int, error) {
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		fmt.Println(l.prefix + sc.Text())
	}
	return len(b), nil
}
