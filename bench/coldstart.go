package main

import (
	"context"
	"fmt"
	"time"
)

// coldStart spawns each server runs times and times, from just before the
// fork to the reply, the first initialize and (in a separate process) the
// first server/discover. The kinds are interleaved run by run, so drift in
// machine load hits them alike; with a baseline relay, the current and the
// baseline relay swap places every other run (inTurn).
func coldStart(ctx context.Context, r *results, c *chain, m *mcpRemote, runs int) error {
	type kind struct {
		name, method string
		start        func() (*stdioPeer, error)
	}
	relays := c.relays()
	var others []kind
	if m != nil {
		others = append(others,
			kind{"mcp-remote/initialize", "initialize", m.start},
			kind{"mcp-remote/server/discover", "server/discover", m.start})
	}
	samples := map[string][]time.Duration{}
	for i := 0; i < runs; i++ {
		var kinds []kind
		for _, rb := range inTurn(i, relays) {
			start := func() (*stdioPeer, error) { return startPeer(rb.bin, []string{"serve"}, rb.env) }
			kinds = append(kinds, kind{rb.name + "/initialize", "initialize", start}, kind{rb.name + "/server/discover", "server/discover", start})
		}
		for _, k := range append(kinds, others...) {
			if _, failed := r.coldErr[k.name]; failed {
				continue
			}
			d, err := firstReply(ctx, k.start, k.method)
			if err != nil {
				r.coldErr[k.name] = err.Error()
				continue
			}
			samples[k.name] = append(samples[k.name], d)
		}
	}
	for name, s := range samples {
		if _, failed := r.coldErr[name]; !failed {
			r.cold[name] = summarize(s)
		}
	}
	if len(r.cold) == 0 {
		return fmt.Errorf("no cold start succeeded: %v", r.coldErr)
	}
	return nil
}

func firstReply(ctx context.Context, start func() (*stdioPeer, error), method string) (time.Duration, error) {
	p, err := start()
	if err != nil {
		return 0, err
	}
	defer p.stop(0)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	params := any(initializeParams)
	if method == "server/discover" {
		params = discoverParams
	}
	_, at, err := p.call(ctx, method, params)
	if err != nil {
		return 0, err
	}
	return at.Sub(p.start), nil
}
