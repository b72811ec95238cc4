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
	noAuth, auth   float64 // requests per second, median over the rounds: echo without and with a token
	whoami         float64 // requests per second, median: whoami (an auth tool) with a token
	ratio          float64 // median over the rounds of auth / no auth in the same round
	rounds         int
	workers        int
	perModeSeconds float64
}

// tputRounds is how many times the modes alternate. Short slices, many
// times, and the median of the per-round ratios: a shared machine's load
// drifts over seconds, and a ratio of two slices taken a moment apart
// drifts much less than one of two long phases taken seconds apart.
const tputRounds = 8

// throughput loads a backend on loopback with keep-alive connections: the
// same tool, echo, without a token (no auth) and with a valid one (the
// backend validates a token sent to any tool), then whoami with the token
// for reference; alternated tputRounds times, 2*dur per mode in all.
func throughput(ctx context.Context, base, token, alg string, workers int, dur time.Duration) (tputRow, error) {
	row := tputRow{alg: alg, workers: workers, rounds: tputRounds, perModeSeconds: 2 * dur.Seconds()}
	client := &backendClient{http: newHTTPClient(workers), base: base}
	slice := 2 * dur / tputRounds
	modes := []struct{ tool, token string }{{"echo", ""}, {"echo", token}, {"whoami", token}}
	rates := make([][]float64, len(modes))
	var ratios []float64
	for round := 0; round < tputRounds; round++ {
		for i, m := range modes {
			start := time.Now()
			n, err := load(ctx, client, m.tool, m.token, workers, slice)
			if err != nil {
				return row, err
			}
			rates[i] = append(rates[i], float64(n)/time.Since(start).Seconds())
		}
		ratios = append(ratios, rates[1][round]/rates[0][round])
	}
	row.noAuth, row.auth, row.whoami = median(rates[0]), median(rates[1]), median(rates[2])
	row.ratio = median(ratios)
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
