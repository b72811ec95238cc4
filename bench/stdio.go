package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// stdioPeer is a process spoken to with newline-delimited JSON-RPC on its
// stdin and stdout, the MCP stdio transport, without any client library in
// the timed path.
type stdioPeer struct {
	cmd     *exec.Cmd
	start   time.Time // just before the process was started
	stdin   io.WriteCloser
	stderr  *tailBuffer
	wmu     sync.Mutex
	mu      sync.Mutex
	pending map[int64]chan rpcReply
	next    int64
	exited  chan struct{}
}

type rpcReply struct {
	msg rpcMessage
	at  time.Time
}

type rpcMessage struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// startPeer starts name with args and env. The start time is taken right
// before the fork, on the monotonic clock.
func startPeer(name string, args, env []string) (*stdioPeer, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	p := &stdioPeer{cmd: cmd, stderr: &tailBuffer{max: 16 << 10}, pending: map[int64]chan rpcReply{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go p.read(stdout)
	return p, nil
}

func (p *stdioPeer) read(r io.Reader) {
	defer close(p.exited)
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		line, err := br.ReadBytes('\n')
		at := time.Now()
		if len(bytes.TrimSpace(line)) > 0 {
			p.dispatch(line, at)
		}
		if err != nil {
			return
		}
	}
}

func (p *stdioPeer) dispatch(line []byte, at time.Time) {
	var m rpcMessage
	if json.Unmarshal(line, &m) != nil || len(m.ID) == 0 || string(m.ID) == "null" {
		return // a notification or noise
	}
	if m.Method != "" { // a request from the server: answer ping, refuse the rest
		if m.Method == "ping" {
			_ = p.write(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": map[string]any{}})
		} else {
			_ = p.write(map[string]any{"jsonrpc": "2.0", "id": m.ID, "error": map[string]any{"code": -32601, "message": "not supported"}})
		}
		return
	}
	id, err := strconv.ParseInt(string(bytes.Trim(m.ID, `"`)), 10, 64)
	if err != nil {
		return
	}
	p.mu.Lock()
	ch := p.pending[id]
	delete(p.pending, id)
	p.mu.Unlock()
	if ch != nil {
		ch <- rpcReply{msg: m, at: at}
	}
}

func (p *stdioPeer) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_, err = p.stdin.Write(append(b, '\n'))
	return err
}

// send writes a request and returns the channel its reply arrives on.
func (p *stdioPeer) send(method string, params any) (chan rpcReply, error) {
	ch := make(chan rpcReply, 1)
	p.mu.Lock()
	p.next++
	id := p.next
	p.pending[id] = ch
	p.mu.Unlock()
	return ch, p.write(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

// call sends a request and waits for its reply. It returns the result, the
// time the reply was read, and an error for a JSON-RPC error or timeout.
func (p *stdioPeer) call(ctx context.Context, method string, params any) (json.RawMessage, time.Time, error) {
	ch, err := p.send(method, params)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%s: write: %w (stderr: %s)", method, err, p.stderr)
	}
	select {
	case r := <-ch:
		if r.msg.Error != nil {
			return nil, r.at, fmt.Errorf("%s: error %d: %s", method, r.msg.Error.Code, r.msg.Error.Message)
		}
		return r.msg.Result, r.at, nil
	case <-p.exited:
		return nil, time.Time{}, fmt.Errorf("%s: the process exited (stderr: %s)", method, p.stderr)
	case <-ctx.Done():
		return nil, time.Time{}, fmt.Errorf("%s: %w (stderr: %s)", method, ctx.Err(), p.stderr)
	}
}

func (p *stdioPeer) notify(method string) error {
	return p.write(map[string]any{"jsonrpc": "2.0", "method": method})
}

// initialize runs the 2025-era handshake.
func (p *stdioPeer) initialize(ctx context.Context) (time.Time, error) {
	_, at, err := p.call(ctx, "initialize", initializeParams)
	if err != nil {
		return at, err
	}
	return at, p.notify("notifications/initialized")
}

var initializeParams = map[string]any{
	"protocolVersion": "2025-06-18",
	"capabilities":    map[string]any{},
	"clientInfo":      map[string]any{"name": "keyrelay-bench", "version": "1"},
}

// discoverParams is the 2026-07-28 server/discover probe.
var discoverParams = map[string]any{"_meta": map[string]any{
	"io.modelcontextprotocol/protocolVersion":    "2026-07-28",
	"io.modelcontextprotocol/clientCapabilities": map[string]any{},
}}

// callTool runs tools/call and times the round trip. A result with
// isError is an error.
func (p *stdioPeer) callTool(ctx context.Context, name string, args map[string]any) (time.Duration, error) {
	t0 := time.Now()
	res, at, err := p.call(ctx, "tools/call", map[string]any{"name": name, "arguments": args})
	if err != nil {
		return 0, err
	}
	var r struct {
		IsError bool `json:"isError"`
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	}
	if json.Unmarshal(res, &r) != nil || r.IsError || len(r.Content) == 0 {
		return 0, fmt.Errorf("tools/call %s: bad result: %.300s", name, res)
	}
	return at.Sub(t0), nil
}

// stop closes stdin, then kills the process if it has not exited within
// grace.
func (p *stdioPeer) stop(grace time.Duration) {
	_ = p.stdin.Close()
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// tailBuffer keeps the last max bytes written, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

// all returns everything kept.
func (t *tailBuffer) all() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.b) > 2000 {
		return "…" + string(t.b[len(t.b)-2000:])
	}
	return string(t.b)
}
