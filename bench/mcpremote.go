package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// mcpRemoteVersion is the pinned mcp-remote release measured against.
const mcpRemoteVersion = "0.15.1"

// mcpRemote is an installed mcp-remote and the Streamable HTTP server it
// is put in front of.
type mcpRemote struct {
	bin, node, version string
	home               string
	serverURL          string
	server             *daemon
	token              string
}

// installMCPRemote installs the pinned mcp-remote into a temporary
// directory with npm. It returns errSkip with the reason when node or npm
// is missing.
func installMCPRemote(ctx context.Context, tmp string) (*mcpRemote, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("%w: node not found in PATH", errSkip)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return nil, fmt.Errorf("%w: npm not found in PATH", errSkip)
	}
	dir := filepath.Join(tmp, "npm")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", dir, "--no-save", "--no-audit", "--no-fund",
		"--loglevel=error", "mcp-remote@"+mcpRemoteVersion)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("npm install mcp-remote@%s: %v\n%s", mcpRemoteVersion, err, out)
	}
	nv, _ := exec.Command(node, "--version").Output()
	m := &mcpRemote{bin: filepath.Join(dir, "node_modules", ".bin", "mcp-remote"), node: strings.TrimSpace(string(nv)),
		version: mcpRemoteVersion, home: filepath.Join(tmp, "mcp-remote-home")}
	return m, os.MkdirAll(m.home, 0o700)
}

// startServer runs `bench mcpserver` (this program) as its own process.
func (m *mcpRemote) startServer(ctx context.Context, c *chain) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "mcpserver", "-issuer", c.es.issuer, "-audience", c.es.url)
	cmd.Env = baseEnv(c.tmp)
	d := &daemon{cmd: cmd, stderr: &tailBuffer{max: 16 << 10}}
	cmd.Stderr = d.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	m.server = d
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
	}()
	select {
	case u, ok := <-line:
		if !ok {
			return fmt.Errorf("mcpserver did not start: %s", d.stderr)
		}
		m.serverURL, m.token = u, c.token
		return nil
	case <-time.After(15 * time.Second):
		return fmt.Errorf("mcpserver did not start within 15 s: %s", d.stderr)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// start runs mcp-remote in front of the server with the token as a static
// header, taken from the environment as its README recommends.
func (m *mcpRemote) start() (*stdioPeer, error) {
	return startPeer(m.bin, []string{m.serverURL, "--header", "Authorization:${AUTH_HEADER}"},
		baseEnv(m.home, "AUTH_HEADER=Bearer "+m.token))
}

func (m *mcpRemote) close() {
	if m != nil && m.server != nil {
		m.server.stop()
	}
}
