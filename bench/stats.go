package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// percentile returns the p-th percentile (0 ≤ p ≤ 100) of samples by the
// nearest-rank method: the smallest sample with at least p% of the samples
// at or below it. It returns 0 for no samples. samples is not modified.
func percentile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// dist summarises one series of timings.
type dist struct {
	n             int
	p50, p90, p99 time.Duration
}

func summarize(samples []time.Duration) dist {
	return dist{n: len(samples), p50: percentile(samples, 50), p90: percentile(samples, 90), p99: percentile(samples, 99)}
}

// ms formats d in milliseconds with enough digits for sub-millisecond
// figures.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 1:
		return fmt.Sprintf("%.3f ms", v)
	case v < 100:
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// ratio formats a/b as "N.N×", or "n/a" when b is zero.
func ratio(a, b float64) string {
	if b == 0 || a == 0 {
		return "n/a"
	}
	r := a / b
	if r >= 10 {
		return fmt.Sprintf("%.0f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
}

// mib formats a byte count in MiB, or n/a when unknown (negative).
func mib(b int64) string {
	if b < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

// median is the middle of v (the mean of the two middle values for an
// even count); 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
