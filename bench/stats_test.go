package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(100-i) * time.Millisecond // reversed: 100..1
	}
	tests := []struct {
		name    string
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"median odd", ms(5, 1, 3), 50, 3 * time.Millisecond},
		{"median even takes lower", ms(4, 1, 3, 2), 50, 2 * time.Millisecond},
		{"p0 is min", ms(4, 1, 3, 2), 0, 1 * time.Millisecond},
		{"p100 is max", ms(4, 1, 3, 2), 100, 4 * time.Millisecond},
		{"p90 of 1..100", hundred, 90, 90 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]time.Duration(nil), tt.samples...)
			if got := percentile(tt.samples, tt.p); got != tt.want {
				t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
			for i := range before {
				if before[i] != tt.samples[i] {
					t.Fatal("percentile modified its input")
				}
			}
		})
	}
}

func TestRatio(t *testing.T) {
	for _, tt := range []struct {
		a, b float64
		want string
	}{{1, 0, "n/a"}, {0, 1, "n/a"}, {3, 2, "1.50×"}, {250, 10, "25×"}} {
		if got := ratio(tt.a, tt.b); got != tt.want {
			t.Errorf("ratio(%v, %v) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestParseInitTrace(t *testing.T) {
	out := "init runtime @0.01 ms, 0.20 ms clock, 0 bytes, 0 allocs\n" +
		"time=x level=INFO msg=hello\n" +
		"init github.com/santhosh-tekuri/jsonschema/v6 @3.1 ms, 12.5 ms clock, 1701712 bytes, 21292 allocs\n" +
		"init net @16 ms, 0.30 ms clock, 1768 bytes, 23 allocs\n"
	total, top, topD := parseInitTrace(out)
	if top != "github.com/santhosh-tekuri/jsonschema/v6" || topD != 12500*time.Microsecond || total != 13*time.Millisecond {
		t.Fatalf("got %v %s %v", total, top, topD)
	}
}

func TestParseBench(t *testing.T) {
	out := "goos: linux\nBenchmarkValidate/HS256-2   \t  85000\t     14012 ns/op\t    3000 B/op\nBenchmarkTokenMemory \t 100 \t 7270.5 ns/op\nPASS\n"
	got := parseBench(out)
	if got["BenchmarkValidate/HS256"] != 14012 || got["BenchmarkTokenMemory"] != 7270.5 || len(got) != 2 {
		t.Fatalf("got %v", got)
	}
}

func TestMedianOfBenchRuns(t *testing.T) {
	out := "BenchmarkValidate/ES256-2 \t 100 \t 90 ns/op\nBenchmarkValidate/ES256-2 \t 100 \t 10 ns/op\nBenchmarkValidate/ES256-2 \t 100 \t 30 ns/op\n" +
		"BenchmarkRawVerify/ES256-2 \t 100 \t 4 ns/op\nBenchmarkRawVerify/ES256-2 \t 100 \t 2 ns/op\n"
	got := parseBench(out)
	if got["BenchmarkValidate/ES256"] != 30 || got["BenchmarkRawVerify/ES256"] != 3 {
		t.Fatalf("medians: %v", got)
	}
	if median(nil) != 0 {
		t.Fatal("median of nothing")
	}
}

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
	testkit.Contains(t, "report lacks", md,
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
		"swap places every other block")
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
