package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// newHTTPClient is a keep-alive client for loopback load.
func newHTTPClient(conns int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = conns, conns
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// backendClient calls the backend's tool endpoint directly, as the relay
// does, without the relay.
type backendClient struct {
	http *http.Client
	base string
}

// call POSTs one tool call and times the round trip to the last byte.
func (b *backendClient) call(ctx context.Context, name, token string, args map[string]any) (time.Duration, error) {
	body, _ := json.Marshal(map[string]any{"arguments": args})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+"/mcp/tools/"+name, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	t0 := time.Now()
	resp, err := b.http.Do(req)
	if err != nil {
		return 0, err
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte(`"isError":true`)) {
		return 0, fmt.Errorf("backend %s: %d %.200s", name, resp.StatusCode, out)
	}
	return d, nil
}

// streamableClient speaks MCP Streamable HTTP directly: one session, one
// POST per request, the reply as JSON or as an SSE stream.
type streamableClient struct {
	http    *http.Client
	url     string
	token   string
	session string
	id      int
}

func (s *streamableClient) post(ctx context.Context, msg map[string]any) ([]byte, error) {
	body, _ := json.Marshal(msg)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	if s.session != "" {
		req.Header.Set("Mcp-Session-Id", s.session)
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if id := resp.Header.Get("Mcp-Session-Id"); id != "" {
		s.session = id
	}
	if resp.StatusCode == http.StatusAccepted {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("streamable HTTP: %d %s", resp.StatusCode, b)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return io.ReadAll(resp.Body)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && strings.Contains(data, `"id"`) {
			return []byte(data), nil
		}
	}
	return nil, fmt.Errorf("streamable HTTP: stream ended without a reply")
}

func (s *streamableClient) initialize(ctx context.Context) error {
	s.id++
	if _, err := s.post(ctx, map[string]any{"jsonrpc": "2.0", "id": s.id, "method": "initialize", "params": initializeParams}); err != nil {
		return err
	}
	_, err := s.post(ctx, map[string]any{"jsonrpc": "2.0", "method": "notifications/initialized"})
	return err
}

func (s *streamableClient) callTool(ctx context.Context, name string, args map[string]any) (time.Duration, error) {
	s.id++
	t0 := time.Now()
	out, err := s.post(ctx, map[string]any{"jsonrpc": "2.0", "id": s.id, "method": "tools/call", "params": map[string]any{"name": name, "arguments": args}})
	d := time.Since(t0)
	if err != nil {
		return 0, err
	}
	if !bytes.Contains(out, []byte(`"result"`)) || bytes.Contains(out, []byte(`"isError":true`)) {
		return 0, fmt.Errorf("streamable %s: %.200s", name, out)
	}
	return d, nil
}
