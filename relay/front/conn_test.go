package front

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"sync"
	"testing"
	"time"
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

// conn runs Serve on pipes.
type conn struct {
	in     *io.PipeWriter
	lines  chan string
	done   chan error
	cancel context.CancelFunc
}

func start(t *testing.T, cfg Config) *conn {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{in: inW, lines: make(chan string, 1000), done: make(chan error, 1), cancel: cancel}
	go func() {
		err := New(cfg).Serve(ctx, inR, outW)
		outW.Close()
		c.done <- err
	}()
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		cancel()
		inW.Close()
		inR.Close()
	})
	return c
}

func (c *conn) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		t.Fatalf("write: %v", err)
	}
}

type reply struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *Error          `json:"error"`
	raw    string
}

// next returns the next message that is not a notification, or fails.
func (c *conn) next(t *testing.T) reply {
	t.Helper()
	for {
		r, ok := c.any(t)
		if !ok {
			t.Fatal("stdout ended")
		}
		if r.Method == "" || r.ID != nil {
			return r
		}
	}
}

func (c *conn) any(t *testing.T) (reply, bool) {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			return reply{}, false
		}
		var r reply
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("not JSON on stdout: %q", l)
		}
		r.raw = l
		return r, true
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10 s")
	}
	return reply{}, false
}

// rest closes stdin, waits for Serve to return, and returns every message
// written after what was read so far.
func (c *conn) rest(t *testing.T) []reply {
	t.Helper()
	c.in.Close()
	select {
	case err := <-c.done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return at the end of input")
	}
	var out []reply
	for {
		r, ok := c.any(t)
		if !ok {
			return out
		}
		out = append(out, r)
	}
}
