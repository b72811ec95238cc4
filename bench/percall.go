package main

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// tracked is a stdio MCP server under measurement: it counts tool calls
// and samples the process's RSS after start, after 1,000 calls and after
// 10,000.
type tracked struct {
	p     *stdioPeer
	calls int
	rss   [3]int64 // start, 1,000 calls, 10,000 calls
}

func (t *tracked) call(ctx context.Context, name string, args map[string]any) (time.Duration, error) {
	d, err := t.p.callTool(ctx, name, args)
	if err != nil {
		return 0, err
	}
	t.calls++
	switch t.calls {
	case 1000:
		t.rss[1] = rss(t.p.cmd.Process.Pid)
	case 10000:
		t.rss[2] = rss(t.p.cmd.Process.Pid)
	}
	return d, nil
}

func startTracked(ctx context.Context, start func() (*stdioPeer, error)) (*tracked, error) {
	p, err := start()
	if err != nil {
		return nil, err
	}
	if _, err := p.initialize(ctx); err != nil {
		p.stop(time.Second)
		return nil, err
	}
	t := &tracked{p: p, rss: [3]int64{rss(p.cmd.Process.Pid), -1, -1}}
	if _, _, err := p.call(ctx, "tools/list", map[string]any{}); err != nil {
		p.stop(time.Second)
		return nil, err
	}
	return t, nil
}

// path is one way to make a tool call.
type path struct {
	name string
	call func(ctx context.Context, tool string, args map[string]any) (time.Duration, error)
}

var echoArgs = map[string]any{"message": "hello from keyrelay-bench"}

func argsFor(tool string) map[string]any {
	if tool == "echo" {
		return echoArgs
	}
	return map[string]any{}
}

// perCall times n calls of echo and of whoami on each path, in
// alternating blocks of 50, then tops every stdio server up to 10,000
// calls for the RSS figures. With a baseline relay, the current and the
// baseline relay swap places every other block (inTurn); the baseline is
// not topped up (its RSS is not reported).
func perCall(ctx context.Context, r *results, c *chain, m *mcpRemote, n int) error {
	var relayPaths []path
	var relay *tracked
	for _, rb := range c.relays() {
		t, err := startTracked(ctx, func() (*stdioPeer, error) {
			return startPeer(rb.bin, []string{"serve"}, rb.env)
		})
		if err != nil {
			return fmt.Errorf("%s: %w", rb.name, err)
		}
		defer t.p.stop(2 * time.Second)
		if relay == nil {
			relay = t
		}
		relayPaths = append(relayPaths, path{rb.name, t.call})
	}
	direct := &backendClient{http: newHTTPClient(1), base: c.es.url}
	paths := []path{
		{"direct", func(ctx context.Context, tool string, args map[string]any) (time.Duration, error) {
			tok := c.token
			if tool == "echo" {
				tok = "" // the relay sends no token for a public tool
			}
			return direct.call(ctx, tool, tok, args)
		}},
	}
	servers := map[string]*tracked{"relay": relay}
	if m != nil {
		mr, err := startTracked(ctx, m.start)
		if err != nil {
			return fmt.Errorf("mcp-remote: %w", err)
		}
		defer mr.p.stop(2 * time.Second)
		sc := &streamableClient{http: newHTTPClient(1), url: m.serverURL, token: m.token}
		if err := sc.initialize(ctx); err != nil {
			return fmt.Errorf("streamable HTTP: %w", err)
		}
		paths = append(paths, path{"mcp-remote", mr.call}, path{"streamable", sc.callTool})
		servers["mcp-remote"] = mr
	}
	for _, tool := range []string{"echo", "whoami"} {
		samples := map[string][]time.Duration{}
		for _, p := range append(slices.Clone(relayPaths), paths...) { // warm up: connections, token in memory
			for range 20 {
				if _, err := p.call(ctx, tool, argsFor(tool)); err != nil {
					return fmt.Errorf("%s %s: %w", p.name, tool, err)
				}
			}
		}
		for block := 0; block*50 < n; block++ {
			for _, p := range append(slices.Clone(inTurn(block, relayPaths)), paths...) {
				for range 50 {
					d, err := p.call(ctx, tool, argsFor(tool))
					if err != nil {
						return fmt.Errorf("%s %s: %w", p.name, tool, err)
					}
					samples[p.name] = append(samples[p.name], d)
				}
			}
		}
		for name, s := range samples {
			r.calls[name+"/"+tool] = summarize(s)
		}
	}
	for name, t := range servers {
		for i := 0; t.calls < 10000; i++ {
			tool := []string{"echo", "whoami"}[i%2]
			if _, err := t.call(ctx, tool, argsFor(tool)); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		r.rss[name] = t.rss
	}
	return nil
}
