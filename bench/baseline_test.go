package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestInTurn(t *testing.T) {
	two := []string{"relay", baselineName}
	if got := inTurn(0, two); !slices.Equal(got, two) {
		t.Errorf("round 0: %v", got)
	}
	if got := inTurn(1, two); !slices.Equal(got, []string{baselineName, "relay"}) {
		t.Errorf("round 1: %v", got)
	}
	if !slices.Equal(two, []string{"relay", baselineName}) {
		t.Fatal("inTurn modified its input")
	}
	if got := inTurn(3, []string{"relay"}); !slices.Equal(got, []string{"relay"}) {
		t.Errorf("one relay: %v", got)
	}
}

// fakeResults is a run of the cold and calls parts, with a baseline when
// baseline is set.
func fakeResults(baseline bool) *results {
	o := &options{coldRuns: 40, calls: 2000}
	r := newResults(machine{cpu: "test", cores: 2}, o)
	d := func(p50 time.Duration) dist { return dist{n: 40, p50: p50, p90: 2 * p50, p99: 3 * p50} }
	r.cold["relay/initialize"] = d(20 * time.Millisecond)
	r.cold["relay/server/discover"] = d(18 * time.Millisecond)
	r.calls["relay/echo"] = d(500 * time.Microsecond)
	r.calls["direct/echo"] = d(300 * time.Microsecond)
	r.calls["relay/whoami"] = d(500 * time.Microsecond)
	r.calls["direct/whoami"] = d(300 * time.Microsecond)
	if baseline {
		o.baseline, o.baselineLabel = "/tmp/base", "e63a205"
		r.baselineLinking = "statically linked (CGO_ENABLED=0)"
		r.cold[baselineName+"/initialize"] = d(16 * time.Millisecond)
		r.cold[baselineName+"/server/discover"] = d(18 * time.Millisecond)
		r.calls[baselineName+"/echo"] = d(400 * time.Microsecond)
		r.calls[baselineName+"/whoami"] = d(250 * time.Microsecond) // overhead below zero
	}
	return r
}

func TestReportBaseline(t *testing.T) {
	md := fakeResults(true).markdown()
	for _, want := range []string{
		"| relay binary (baseline) | e63a205, statically linked (CGO_ENABLED=0) |",
		"| relay (baseline) | `initialize` | 40 | 16.00 ms | 32.00 ms |",
		"| relay (baseline) | `server/discover` | 40 | 18.00 ms | 36.00 ms |",
		"relay / relay (baseline) (current / baseline: above 1 is slower), `initialize`: **1.25×**",
		"relay / relay (baseline) (current / baseline: above 1 is slower), `server/discover`: **1.00×**",
		"| `echo` | stdio → relay (baseline) → backend | 0.400 ms | 1.20 ms |",
		"| `echo` | relay (baseline) over direct HTTP | 0.100 ms | 0.300 ms |",
		"overhead p50, relay / relay (baseline) (current / baseline: above 1 is slower), `echo`: **2.00×** (0.200 ms against 0.100 ms; of the round-trip p50s: 1.25×)",
		"`whoami`: **n/a (an overhead at or below zero)** (0.200 ms against −0.050 ms",
		"swap places every other sample",
		"swap places every other block",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestReportWithoutBaseline(t *testing.T) {
	md := fakeResults(false).markdown()
	for _, unwanted := range []string{"baseline", "swap places"} {
		if strings.Contains(md, unwanted) {
			t.Errorf("report without -baseline mentions %q", unwanted)
		}
	}
}

func TestParseOptionsBaseline(t *testing.T) {
	o, err := parseOptions([]string{"-only", "cold,calls", "-no-mcp-remote", "-baseline", "/tmp/b", "-out", "/tmp/x.md"})
	testkit.NoErr(t, err)
	if o.baseline != "/tmp/b" || o.out != "/tmp/x.md" || !o.noMCPRemote || !o.runs("cold") || !o.runs("calls") || o.runs("micro") || o.runs("init") {
		t.Fatalf("options: %+v", o)
	}
}
