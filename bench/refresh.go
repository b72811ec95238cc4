package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"
)

// refreshRound is one relay process answering concurrent calls with an
// expired token.
type refreshRound struct {
	refreshes int64
	elapsed   time.Duration
}

// refreshTTL is the token lifetime of the backend used for the refresh
// figure: short, so the stored token really expires between rounds.
const refreshTTL = 2 * time.Second

// refreshContention signs a relay in to a backend whose tokens live
// refreshTTL, then, rounds times, waits until the stored token has
// expired, starts a fresh relay and sends it n concurrent whoami calls,
// counting the refresh requests that reach the authorization server.
func refreshContention(ctx context.Context, bins, tmp string, n, rounds int) ([]refreshRound, error) {
	a, err := startAuthBackend(ctx, bins, tmp, "refresh", refreshTTL.String(), "AUTH_DPOP=0")
	if err != nil {
		return nil, err
	}
	defer a.close()
	if _, err := a.login(ctx); err != nil {
		return nil, err
	}
	var out []refreshRound
	for range rounds {
		// Expired, with a margin for clock granularity (exp is in seconds).
		if wait := time.Until(a.lastIssued().Add(refreshTTL + 1100*time.Millisecond)); wait > 0 {
			time.Sleep(wait)
		}
		p, err := startPeer(filepath.Join(bins, "relay"), []string{"serve"}, a.relayEnv())
		if err != nil {
			return out, err
		}
		round, err := concurrentCalls(ctx, a, p, n)
		p.stop(2 * time.Second)
		if err != nil {
			return out, err
		}
		out = append(out, round)
	}
	return out, nil
}

func concurrentCalls(ctx context.Context, a *authBackend, p *stdioPeer, n int) (refreshRound, error) {
	if _, err := p.initialize(ctx); err != nil {
		return refreshRound{}, err
	}
	if _, _, err := p.call(ctx, "tools/list", map[string]any{}); err != nil {
		return refreshRound{}, err
	}
	before := a.refresh.Load()
	start := time.Now()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := p.callTool(ctx, "whoami", map[string]any{})
			errs <- err
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		if err != nil {
			return refreshRound{}, fmt.Errorf("concurrent whoami: %w", err)
		}
	}
	return refreshRound{refreshes: a.refresh.Load() - before, elapsed: elapsed}, nil
}
