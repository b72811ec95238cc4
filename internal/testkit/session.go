package testkit

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// Session is an MCP stdio server process (a relay) driven by mcp-go's
// client.
type Session struct {
	Client *client.Client
	Cmd    *exec.Cmd
	// Stderr is all the process wrote to stderr: exec's own copier fills
	// it, and Close waits for that to end. (mcp-go's
	// WithCommandStderrWriter mirrors through a queue that drops chunks.)
	Stderr *Buffer

	closeOnce sync.Once
	closeErr  error
}

// Connect starts bin with args and exactly env (nothing of the test's own)
// as an MCP stdio server, and starts mcp-go's client with opts on it; it
// does not initialize. The session is closed when the test ends.
func Connect(t testing.TB, bin string, env, args []string, opts ...client.ClientOption) *Session {
	t.Helper()
	s := &Session{Stderr: &Buffer{}}
	command := func(_ context.Context, name string, env, args []string) (*exec.Cmd, error) {
		s.Cmd = exec.Command(name, args...)
		s.Cmd.Env, s.Cmd.Stderr = env, s.Stderr
		s.Cmd.WaitDelay = 2 * time.Second // a leftover child holding stderr must not stall Wait
		return s.Cmd, nil
	}
	tr := transport.NewStdioWithOptions(bin, env, args, transport.WithCommandFunc(command))
	if err := tr.Start(context.Background()); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	s.Client = client.NewClient(tr, opts...)
	if err := s.Client.Start(context.Background()); err != nil { // wires notifications and server requests
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Initialize runs the start-up with protocol version: "" negotiates the
// newest era (server/discover, 2026-07-28), a 2025-era version the
// initialize handshake. It returns the server's answer, and fails the test
// if the start-up fails or ends in the other era.
func (s *Session) Initialize(t testing.TB, version string) *mcp.InitializeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = version
	req.Params.ClientInfo = mcp.Implementation{Name: "keyrelay-test", Version: "1"}
	res, err := s.Client.Initialize(ctx, req)
	if err != nil {
		t.Fatalf("initialize: %v\n%s", err, s.Stderr.String())
	}
	if modern := version == "" || mcp.IsModernProtocol(version); mcp.IsModernProtocol(s.Client.ProtocolVersion()) != modern {
		t.Fatalf("client era: protocol %s, want modern=%v", s.Client.ProtocolVersion(), modern)
	}
	return res
}

// CallTool calls a tool within d and returns its text, and whether the
// result is an error; err is for a request that failed. It is safe on
// any goroutine.
func (s *Session) CallTool(name string, args map[string]any, d time.Duration) (text string, isError bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := s.Client.CallTool(ctx, req)
	if err != nil {
		return "", false, err
	}
	return Text(res), res.IsError, nil
}

// Text joins the text content of a tool result.
func Text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// Call calls a tool, within 60 s, and returns its text and whether the
// result is an error; a failed request fails the test.
func (s *Session) Call(t testing.TB, name string, args map[string]any) (string, bool) {
	t.Helper()
	text, isErr, err := s.CallTool(name, args, 60*time.Second)
	if err != nil {
		t.Fatalf("call %s: %v\n%s", name, err, s.Stderr.String())
	}
	return text, isErr
}

// MustCall is Call for a tool that must succeed.
func (s *Session) MustCall(t testing.TB, name string, args map[string]any) string {
	t.Helper()
	text, isErr := s.Call(t, name, args)
	if isErr {
		t.Fatalf("%s failed: %s\n%s", name, text, s.Stderr.String())
	}
	return text
}

// Close ends the session: stdin closes and the process must exit (mcp-go
// sends SIGTERM after 2 s, then SIGKILL, and reports the signal). Later
// calls return the first one's result.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.Client.Close()
		if s.closeErr == nil && s.Cmd.ProcessState == nil {
			s.closeErr = errors.New("the process was not reaped")
		}
	})
	return s.closeErr
}
