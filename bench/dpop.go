package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyrelay/keyrelay/internal/dpop"
)

// dpopResult is the dpop part: what DPoP (RFC 9449) costs per call and in
// backend throughput, measured beside bearer tokens in the same run.
type dpopResult struct {
	// bearer and bound are whoami through the relay, bearer tokens (the
	// chain's backend, AUTH_DPOP=0) and DPoP-bound ones (a second
	// backend with DPoP on, the default), in alternating blocks of 50.
	bearer, bound dist
	// Throughput of the HS256 backend: echo without a token, with a bearer
	// token, and with a DPoP-bound token and a fresh proof per request
	// (signed beforehand, outside the timed slices); ratio is the median
	// of the rounds' DPoP / no-auth.
	noAuth, withBearer, withDPoP, ratio float64
	rounds, workers                     int
	signedLive                          int64 // proofs signed during a timed slice (the pool ran out)
}

// measureDPoP runs the dpop part against c's bearer relay.
func measureDPoP(ctx context.Context, c *chain, o *options, bins, tmp string) (*dpopResult, error) {
	a, err := startAuthBackend(ctx, bins, tmp, "dpop", "1h")
	if err != nil {
		return nil, err
	}
	defer a.close()
	if _, err := a.login(ctx); err != nil {
		return nil, err
	}
	res := &dpopResult{workers: o.workers, rounds: tputRounds}
	if err := res.perCall(ctx, c, a, o.calls); err != nil {
		return nil, err
	}
	return res, res.throughput(ctx, c, o.workers, o.tputDur)
}

// perCall times whoami through the bearer relay and the DPoP relay, n
// calls each, in alternating blocks of 50.
func (res *dpopResult) perCall(ctx context.Context, c *chain, a *authBackend, n int) error {
	var paths []path
	for _, rb := range []relayBin{{"bearer", c.relays()[0].bin, c.relayEnv()}, {"DPoP", c.relays()[0].bin, a.relayEnv()}} {
		t, err := startTracked(ctx, func() (*stdioPeer, error) { return startPeer(rb.bin, []string{"serve"}, rb.env) })
		if err != nil {
			return fmt.Errorf("%s relay: %w", rb.name, err)
		}
		defer t.p.stop(2 * time.Second)
		paths = append(paths, path{rb.name, t.call})
	}
	samples := map[string][]time.Duration{}
	for _, p := range paths {
		for range 20 {
			if _, err := p.call(ctx, "whoami", argsFor("whoami")); err != nil {
				return fmt.Errorf("%s whoami: %w", p.name, err)
			}
		}
	}
	for block := 0; block*50 < n; block++ {
		for _, p := range inTurn(block, paths) {
			for range 50 {
				d, err := p.call(ctx, "whoami", argsFor("whoami"))
				if err != nil {
					return fmt.Errorf("%s whoami: %w", p.name, err)
				}
				samples[p.name] = append(samples[p.name], d)
			}
		}
	}
	res.bearer, res.bound = summarize(samples["bearer"]), summarize(samples["DPoP"])
	return nil
}

// throughput loads the HS256 backend: echo without a token, with a bearer
// token, with a DPoP-bound one and a proof per request.
func (res *dpopResult) throughput(ctx context.Context, c *chain, workers int, dur time.Duration) error {
	plain, err := c.hsToken()
	if err != nil {
		return err
	}
	client := &backendClient{http: newHTTPClient(workers), base: c.hsURL}
	slice := 2 * dur / tputRounds
	var rates [3][]float64
	var ratios []float64
	for round := 0; round < tputRounds; round++ {
		for i, tok := range []string{"", plain} {
			start := time.Now()
			n, err := load(ctx, client, "echo", tok, workers, slice)
			if err != nil {
				return err
			}
			rates[i] = append(rates[i], float64(n)/time.Since(start).Seconds())
		}
		// A key of its own each round, as many relays would have: the
		// backend's replay cache allows one key 65,536 proofs a minute,
		// which a long run (-throughput-time) of one key passes.
		key, err := dpop.NewKey(dpop.ES256)
		if err != nil {
			return err
		}
		bound, err := c.hsTokenBound(key.Thumbprint())
		if err != nil {
			return err
		}
		// Enough proofs for this slice at twice the bearer rate.
		pool, err := signPool(key, c.hsURL+"/mcp/tools/echo", bound, int(2*rates[1][round]*slice.Seconds())+200)
		if err != nil {
			return err
		}
		start := time.Now()
		n, live, err := loadDPoP(ctx, client, bound, key, pool, workers, slice)
		if err != nil {
			return err
		}
		res.signedLive += live
		rates[2] = append(rates[2], float64(n)/time.Since(start).Seconds())
		ratios = append(ratios, rates[2][round]/rates[0][round])
	}
	res.noAuth, res.withBearer, res.withDPoP, res.ratio = median(rates[0]), median(rates[1]), median(rates[2]), median(ratios)
	return nil
}

func signPool(key *dpop.Key, u, tok string, n int) (chan string, error) {
	pool := make(chan string, n)
	for range n {
		p, err := key.Proof(http.MethodPost, u, dpop.ProofOptions{AccessToken: tok})
		if err != nil {
			return nil, err
		}
		pool <- p
	}
	return pool, nil
}

// loadDPoP is load with the DPoP scheme: each request takes a proof from
// pool, or signs one when it is empty (counted in live).
func loadDPoP(ctx context.Context, c *backendClient, tok string, key *dpop.Key, pool chan string, workers int, dur time.Duration) (n, live int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	var count, signed atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	body, _ := json.Marshal(map[string]any{"arguments": echoArgs})
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				var p string
				select {
				case p = <-pool:
				default:
					signed.Add(1)
					p, _ = key.Proof(http.MethodPost, c.base+"/mcp/tools/echo", dpop.ProofOptions{AccessToken: tok})
				}
				if e := postDPoP(ctx, c, body, tok, p); e != nil {
					if ctx.Err() == nil {
						once.Do(func() { err = e; cancel() })
					}
					return
				}
				count.Add(1)
			}
		})
	}
	wg.Wait()
	return count.Load(), signed.Load(), err
}

func postDPoP(ctx context.Context, c *backendClient, body []byte, tok, proof string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/mcp/tools/echo", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "DPoP "+tok)
	req.Header.Set("DPoP", proof)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("backend echo with DPoP: %d %.200s", resp.StatusCode, out)
	}
	return nil
}

// hsTokenBound is hsToken bound to the DPoP key with thumbprint jkt.
func (c *chain) hsTokenBound(jkt string) (string, error) {
	now := time.Now()
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": hsIssuer, "aud": c.hsURL, "sub": benchUser, "client_id": "relay", "jti": randomString(9),
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "cnf": map[string]string{"jkt": jkt},
	})
	t.Header["typ"] = "at+jwt"
	return t.SignedString(c.hsSecret)
}

func (r *results) dpopSection(w writer) {
	d := r.dpop
	if d == nil {
		return
	}
	w("## 5b. DPoP (RFC 9449)")
	w("")
	w("Per call: `whoami` through the relay, %d calls each, in alternating blocks of 50: bearer tokens (the backend above, `AUTH_DPOP=0`) and DPoP-bound tokens (a second `backend --auth-server` with DPoP on, its default; the relay signs an ES256 proof per request, the backend checks it).", d.bearer.n)
	w("")
	w("| tokens | p50 | p90 | p99 |")
	w("|---|---|---|---|")
	w("| bearer | %s | %s | %s |", ms(d.bearer.p50), ms(d.bearer.p90), ms(d.bearer.p99))
	w("| DPoP | %s | %s | %s |", ms(d.bound.p50), ms(d.bound.p90), ms(d.bound.p99))
	w("| DPoP − bearer | %s | %s | %s |", ms(d.bound.p50-d.bearer.p50), ms(d.bound.p90-d.bearer.p90), ms(d.bound.p99-d.bearer.p99))
	w("")
	w("Throughput: the HS256 backend, %d connections, %d rounds; `echo` without a token, with a bearer token, and with a DPoP-bound token and a fresh ES256 proof per request (a key of its own each round; proofs signed before each slice, outside the timing; %d signed during the slices).", d.workers, d.rounds, d.signedLive)
	w("")
	w("| no auth | bearer | DPoP | DPoP / no auth (median of rounds) |")
	w("|---|---|---|---|")
	w("| %.0f req/s | %.0f req/s | %.0f req/s | %.2f |", d.noAuth, d.withBearer, d.withDPoP, d.ratio)
	w("")
	w("Targets (issue 20): p50 DPoP − bearer at most 0.15 ms: %s; DPoP / no auth at least 0.7: %s.",
		yesNo(d.bound.p50-d.bearer.p50 <= 150*time.Microsecond), yesNo(d.ratio >= 0.7))
	w("")
}
