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
	noAuth, auth   float64 // requests per second
	workers        int
	perModeSeconds float64
}

// throughput loads a backend on loopback with keep-alive connections:
// echo without a token, then whoami with one, alternated twice, each for
// dur.
func throughput(ctx context.Context, base, token, alg string, workers int, dur time.Duration) (tputRow, error) {
	row := tputRow{alg: alg, workers: workers, perModeSeconds: 2 * dur.Seconds()}
	client := &backendClient{http: newHTTPClient(workers), base: base}
	var noAuthN, authN int64
	for round := 0; round < 2; round++ {
		n, err := load(ctx, client, "echo", "", workers, dur)
		if err != nil {
			return row, err
		}
		noAuthN += n
		if n, err = load(ctx, client, "whoami", token, workers, dur); err != nil {
			return row, err
		}
		authN += n
	}
	row.noAuth = float64(noAuthN) / (2 * dur.Seconds())
	row.auth = float64(authN) / (2 * dur.Seconds())
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
