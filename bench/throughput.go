package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// tputRow is backend throughput with and without auth, one token kind.
type tputRow struct {
	alg            string
	noAuth, auth   float64 // requests per second: echo without and with a token
	whoami         float64 // requests per second: whoami (an auth tool) with a token
	workers        int
	perModeSeconds float64
}

// throughput loads a backend on loopback with keep-alive connections: the
// same tool, echo, without a token (no auth) and with a valid one (the
// backend validates a token sent to any tool), then whoami with the token
// for reference; alternated twice, each for dur.
func throughput(ctx context.Context, base, token, alg string, workers int, dur time.Duration) (tputRow, error) {
	row := tputRow{alg: alg, workers: workers, perModeSeconds: 2 * dur.Seconds()}
	client := &backendClient{http: newHTTPClient(workers), base: base}
	modes := []struct {
		tool, token string
		n           int64
	}{{"echo", "", 0}, {"echo", token, 0}, {"whoami", token, 0}}
	for round := 0; round < 2; round++ {
		for i := range modes {
			n, err := load(ctx, client, modes[i].tool, modes[i].token, workers, dur)
			if err != nil {
				return row, err
			}
			modes[i].n += n
		}
	}
	per := func(n int64) float64 { return float64(n) / (2 * dur.Seconds()) }
	row.noAuth, row.auth, row.whoami = per(modes[0].n), per(modes[1].n), per(modes[2].n)
	return row, nil
}

func load(ctx context.Context, c *backendClient, tool, token string, workers int, dur time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	var n atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var failure error
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := c.call(ctx, tool, token, argsFor(tool)); err != nil {
					if ctx.Err() == nil {
						once.Do(func() { failure = err; cancel() })
					}
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if failure != nil {
		return 0, fmt.Errorf("%s: %w", tool, failure)
	}
	return n.Load(), nil
}
