package main

import (
	"bufio"
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// initCost is where the relay's package initialisation goes, from
// GODEBUG=inittrace=1: the total and the heaviest package, medians over
// several starts.
type initCost struct {
	total, top time.Duration
	topPkg     string
}

// initLine matches "init PKG @0.5 ms, 1.2 ms clock, ...".
var initLine = regexp.MustCompile(`^init (\S+) @[\d.]+ ms, ([\d.]+) ms clock`)

// parseInitTrace sums the clock time of every package init and returns the
// heaviest one.
func parseInitTrace(out string) (total time.Duration, top string, topD time.Duration) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		m := initLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			continue
		}
		d := time.Duration(v * float64(time.Millisecond))
		total += d
		if d > topD {
			top, topD = m[1], d
		}
	}
	return total, top, topD
}

// measureInit starts the relay runs times with inittrace on and answers
// one initialize each time.
func measureInit(ctx context.Context, c *chain, runs int) (initCost, error) {
	var totals, tops []time.Duration
	count := map[string]int{}
	for range runs {
		p, err := startPeer(filepath.Join(c.bins, "relay"), []string{"serve"}, append(c.relayEnv(), "GODEBUG=inittrace=1"))
		if err != nil {
			return initCost{}, err
		}
		p.stderr.max = 256 << 10
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, _, err = p.call(cctx, "initialize", initializeParams)
		cancel()
		p.stop(0)
		if err != nil {
			return initCost{}, err
		}
		total, top, topD := parseInitTrace(p.stderr.all())
		totals, tops = append(totals, total), append(tops, topD)
		count[top]++
	}
	ic := initCost{total: percentile(totals, 50), top: percentile(tops, 50)}
	for pkg, n := range count {
		if n > count[ic.topPkg] {
			ic.topPkg = pkg
		}
	}
	return ic, nil
}
