package front

import (
	"context"
	"encoding/json"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// modernMeta is the _meta of a 2026-07-28 request.
const modernMeta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`

const initLine = `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

// fakeUp is an upstream whose answers the test decides: handle (default:
// tools/list lists "echo", tools/call echoes its params, anything else is
// not found). It records notifications and whether it was closed.
type fakeUp struct {
	client Client
	handle func(ctx context.Context, r *Call) (*Message, error)

	mu     sync.Mutex
	notes  []string
	closed bool
}

func (f *fakeUp) Describe(context.Context) Description {
	return Description{Capabilities: json.RawMessage(`{"tools":{}}`), ServerInfo: json.RawMessage(`{"name":"fake","version":"1"}`)}
}

func (f *fakeUp) Request(ctx context.Context, r *Call) (*Message, error) {
	if f.handle != nil {
		return f.handle(ctx, r)
	}
	switch r.Method {
	case "tools/list":
		return Result(r.ID, json.RawMessage(`{"tools":[{"name":"echo","inputSchema":{"type":"object"}}]}`)), nil
	case "tools/call":
		return Result(r.ID, Object(map[string]any{"content": []any{map[string]any{"type": "text", "text": string(r.Params)}}})), nil
	}
	return MethodNotFound(&Message{ID: r.ID, Method: r.Method}), nil
}

func (f *fakeUp) Notify(_ context.Context, m *Message) {
	f.mu.Lock()
	f.notes = append(f.notes, m.Method)
	f.mu.Unlock()
}

func (f *fakeUp) Close() { f.mu.Lock(); f.closed = true; f.mu.Unlock() }

func (f *fakeUp) notifications() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.notes...)
}

// wireTo is a Config.Wire that wires up.
func wireTo(up *fakeUp) func(context.Context, Client) (Upstream, error) {
	return func(_ context.Context, c Client) (Upstream, error) { up.client = c; return up, nil }
}

// conn runs Serve on pipes, read with the test kit's stdio peer.
type conn struct {
	*testkit.Stdio
	done   chan error
	cancel context.CancelFunc
}

func start(t *testing.T, cfg Config) *conn {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{Stdio: testkit.NewStdio(inW, outR, &testkit.Buffer{}), done: make(chan error, 1), cancel: cancel}
	go func() {
		err := New(cfg).Serve(ctx, inR, outW)
		outW.Close()
		c.done <- err
	}()
	t.Cleanup(func() {
		cancel()
		inW.Close()
		inR.Close()
	})
	return c
}

func (c *conn) send(t *testing.T, line string) { t.Helper(); c.Send(t, line) }

// next returns the next message that is not a notification, or fails.
func (c *conn) next(t *testing.T) testkit.Msg {
	t.Helper()
	m, ok := c.Next(t, 10*time.Second)
	if !ok {
		t.Fatal("no message within 10 s, or stdout ended")
	}
	return m
}

// call sends line and returns the next message that is not a
// notification.
func (c *conn) call(t *testing.T, line string) testkit.Msg {
	t.Helper()
	c.send(t, line)
	return c.next(t)
}

// any returns the next message, false at the end of stdout.
func (c *conn) any(t *testing.T) (testkit.Msg, bool) {
	t.Helper()
	return c.Read(t, 10*time.Second)
}

// rest closes stdin, waits for Serve to return, and returns every message
// written after what was read so far.
func (c *conn) rest(t *testing.T) []testkit.Msg {
	t.Helper()
	c.In.Close()
	select {
	case err := <-c.done:
		testkit.NoErr(t, err, "Serve")
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return at the end of input")
	}
	var out []testkit.Msg
	for {
		m, ok := c.any(t)
		if !ok {
			return out
		}
		out = append(out, m)
	}
}
