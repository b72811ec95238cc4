package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// goBench is one `go test -bench` invocation whose results the report
// quotes.
type goBench struct {
	pkg, pattern string
}

var goBenches = []goBench{
	{"./backend/bearer", "^(BenchmarkValidate|BenchmarkValidateCached|BenchmarkRawVerify)$"},
	{"./vault", "^(BenchmarkLoad|BenchmarkGetCachedKey)$"},
	{"./relay/broker", "^BenchmarkTokenMemory$"},
}

func (g goBench) args() []string {
	return []string{"test", "-run", "^$", "-bench", g.pattern, "-benchmem", "-count", "1", g.pkg}
}

// benchCount is how often each micro benchmark runs; the report quotes the
// median. The package's benchmarks run once per `go test`, benchCount
// times over, so that the runs of one benchmark alternate with the
// others' (-count N would run each N times in a row, and a ratio such as
// validation / raw signature check would then compare different minutes
// of a shared machine).
const benchCount = 5

// benchLine matches "BenchmarkValidate/HS256-2  123  14000 ns/op ...".
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op`)

// parseBench returns the median ns/op by benchmark name (without the
// -GOMAXPROCS suffix) from go test output.
func parseBench(out string) map[string]float64 {
	runs := map[string][]float64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if m := benchLine.FindStringSubmatch(sc.Text()); m != nil {
			if v, err := strconv.ParseFloat(m[2], 64); err == nil {
				runs[m[1]] = append(runs[m[1]], v)
			}
		}
	}
	res := map[string]float64{}
	for k, v := range runs {
		res[k] = median(v)
	}
	return res
}

// runGoBenches runs the micro benchmarks from the module root and merges
// their figures into r.micro. Skips (no keychain) are noted.
func runGoBenches(ctx context.Context, r *results, goCmd string) error {
	for _, g := range goBenches {
		var out []byte
		for range benchCount {
			cmd := exec.CommandContext(ctx, goCmd, g.args()...)
			cmd.Stderr = os.Stderr
			o, err := cmd.Output()
			if err != nil {
				return fmt.Errorf("go %s: %v\n%s", strings.Join(g.args(), " "), err, o)
			}
			out = append(out, o...)
		}
		for k, v := range parseBench(string(out)) {
			r.micro[k] = v
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "--- SKIP") || strings.Contains(line, "no OS keychain") {
				r.notes = append(r.notes, "`"+g.pkg+"`: "+strings.TrimSpace(line))
			}
		}
	}
	return nil
}
