package proxy

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// A signal (the context) ends Serve while the client keeps stdin open:
// Claude Code stops a server with SIGINT, then SIGTERM, then SIGKILL, and
// does not close stdin first.
func TestServeEndsWithContextWhileStdinOpen(t *testing.T) {
	p, err := New(Config{ConfigErr: errors.New("not configured"), Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	in, w := io.Pipe()
	defer w.Close()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, in, outW) }()

	// One request answered proves Serve is reading.
	go func() { _, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"method":"ping"}`+"\n") }()
	buf := make([]byte, 256)
	n, err := outR.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), `"id":1`) {
		t.Fatalf("ping answer: %q, %v", buf[:n], err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve still running 10 s after its context ended, with stdin open")
	}
}

// When stdin ends, Serve returns nil (EOF is the normal end).
func TestServeEndsWithStdin(t *testing.T) {
	p, err := New(Config{ConfigErr: errors.New("not configured"), Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := p.Serve(context.Background(), strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"ping"}`+"\n"), &out); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if !strings.Contains(out.String(), `"id":7`) {
		t.Fatalf("no answer to ping: %q", out.String())
	}
}
