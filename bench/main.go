// Command bench measures keyrelay's whole-process figures (cold start,
// per-call overhead, memory, backend throughput, refresh under
// contention), runs the Go micro benchmarks (JWT validation, vault), and
// writes BENCHMARKS.md. When node and npm are present it installs a pinned
// mcp-remote into a temporary directory and measures it in the same run,
// in front of an equivalent local Streamable HTTP MCP server.
//
// `make bench` builds the binaries and runs it inside a throwaway Secret
// Service. It reports and never fails on speed: it exits non-zero only
// when a measurement cannot be taken.
//
// `bench mcpserver` is an internal mode: the Streamable HTTP server that
// mcp-remote is put in front of, run as its own process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "mcpserver" {
		if err := runMCPServer(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench mcpserver: error:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench: error:", err)
		os.Exit(1)
	}
}

// options are the bench's flags.
type options struct {
	bins, out, goCmd string
	coldRuns, calls  int
	workers          int
	tputDur          time.Duration
	noMCPRemote      bool
	skipMicro        bool
	only             map[string]bool // parts to run; nil: all
	baseline         string          // directory with a second relay binary, "" for none
	baselineLabel    string          // what the baseline is (a commit), for the report
}

// parts are the names -only takes, in the order they run.
var parts = []string{"micro", "cold", "init", "calls", "tput", "refresh", "dpop"}

// runs reports whether part is to be measured.
func (o *options) runs(part string) bool {
	if part == "micro" && o.skipMicro {
		return false
	}
	return o.only == nil || o.only[part]
}

func parseOptions(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.bins, "bins", "bin", "directory holding relay, backend and fakebrowser")
	fs.StringVar(&o.out, "out", "BENCHMARKS.md", "report to write")
	fs.StringVar(&o.goCmd, "go", "go", "go command for the micro benchmarks")
	fs.IntVar(&o.coldRuns, "runs", 40, "cold starts per kind (at least 30)")
	fs.IntVar(&o.calls, "calls", 2000, "timed calls per tool and path (at least 2,000)")
	fs.IntVar(&o.workers, "workers", 8, "concurrent connections for the throughput load")
	fs.DurationVar(&o.tputDur, "throughput-time", 3*time.Second, "duration of each throughput phase (each mode runs twice)")
	fs.BoolVar(&o.noMCPRemote, "no-mcp-remote", false, "skip the mcp-remote comparison")
	fs.BoolVar(&o.skipMicro, "skip-micro", false, "skip the go test benchmarks")
	fs.StringVar(&o.baseline, "baseline", "", "directory holding a second relay binary (e.g. of the commit before), measured interleaved with bins/relay in the cold start and per-call parts")
	fs.StringVar(&o.baselineLabel, "baseline-label", "", "what the -baseline relay is (e.g. its commit), for the report")
	only := fs.String("only", "", "comma-separated parts to run, for quick iterations ("+strings.Join(parts, ", ")+"); the report then lacks the others")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *only != "" {
		o.only = map[string]bool{}
		for _, p := range strings.Split(*only, ",") {
			if !slices.Contains(parts, p) {
				return nil, fmt.Errorf("-only: unknown part %q (known: %s)", p, strings.Join(parts, ", "))
			}
			o.only[p] = true
		}
	}
	return o, nil
}

// errSkip marks a part that could not run here (no node, no npm).
var errSkip = errors.New("skipped")

func run(ctx context.Context, args []string) error {
	o, err := parseOptions(args)
	if err != nil {
		return err
	}
	bins, err := filepath.Abs(o.bins)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "keyrelay-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	r := newResults(describeMachine(o.goCmd), o)
	r.relayLinking = linking(filepath.Join(bins, "relay"))
	if o.baseline != "" {
		if o.baseline, err = filepath.Abs(o.baseline); err != nil {
			return err
		}
		bl := filepath.Join(o.baseline, "relay")
		if fi, err := os.Stat(bl); err != nil {
			return fmt.Errorf("-baseline: %w", err)
		} else if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return fmt.Errorf("-baseline: %s is not an executable file", bl)
		}
		r.baselineLinking = linking(bl)
	}
	if err := measure(ctx, r, o, bins, tmp); err != nil {
		return err
	}
	if err := os.WriteFile(o.out, []byte(r.markdown()), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "bench: wrote", o.out)
	return nil
}

func progress(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...)
}

func measure(ctx context.Context, r *results, o *options, bins, tmp string) error {
	if o.runs("micro") {
		progress("go test benchmarks (JWT, vault)")
		if err := runGoBenches(ctx, r, o.goCmd); err != nil {
			return err
		}
	}
	progress("starting the backends and signing the relay in")
	c, err := newChain(ctx, bins, tmp)
	if err != nil {
		return err
	}
	defer c.close()
	if o.baseline != "" && (o.runs("cold") || o.runs("calls")) {
		progress("signing the baseline relay (%s) in", filepath.Join(o.baseline, "relay"))
		if err := c.addBaseline(ctx, filepath.Join(o.baseline, "relay")); err != nil {
			return fmt.Errorf("baseline relay: %w", err)
		}
	}
	m, err := setupMCPRemote(ctx, r, o, c, tmp)
	if err != nil {
		return err
	}
	defer m.close()
	if err := measureProcesses(ctx, r, o, c, m); err != nil {
		return err
	}
	if o.runs("tput") {
		if err := measureThroughput(ctx, r, o, c); err != nil {
			return err
		}
	}
	if o.runs("dpop") {
		progress("DPoP: per-call overhead against bearer tokens, %d calls each, and backend throughput", o.calls)
		if r.dpop, err = measureDPoP(ctx, c, o, bins, tmp); err != nil {
			return fmt.Errorf("dpop: %w", err)
		}
	}
	if o.runs("refresh") {
		progress("refresh under contention: 64 concurrent calls, 3 rounds")
		if r.refresh, err = refreshContention(ctx, bins, tmp, 64, 3); err != nil {
			return err
		}
	}
	return nil
}

// measureProcesses runs the figures of the relay and mcp-remote processes:
// cold start, package initialisation, per-call overhead and memory.
func measureProcesses(ctx context.Context, r *results, o *options, c *chain, m *mcpRemote) error {
	if o.runs("cold") {
		progress("cold start: %d runs per kind", o.coldRuns)
		if err := coldStart(ctx, r, c, m, o.coldRuns); err != nil {
			return err
		}
	}
	if o.runs("init") {
		progress("relay package initialisation (GODEBUG=inittrace=1)")
		ic, err := measureInit(ctx, c, 10)
		if err != nil {
			return err
		}
		r.init = &ic
	}
	if o.runs("calls") {
		progress("per-call overhead: %d calls per tool and path, then 10,000 calls for RSS", o.calls)
		return perCall(ctx, r, c, m, o.calls)
	}
	return nil
}

// measureThroughput loads the HS256 and the ES256 backend, and one that
// checks opaque tokens by introspection.
func measureThroughput(ctx context.Context, r *results, o *options, c *chain) error {
	progress("backend throughput: %d connections, %v per phase", o.workers, o.tputDur)
	hs, err := c.hsToken()
	if err != nil {
		return err
	}
	op, err := startOpaqueBackend(ctx, c.bins, c.tmp)
	if err != nil {
		return err
	}
	defer op.close()
	for _, b := range []struct{ alg, url, tok string }{{"HS256", c.hsURL, hs}, {"ES256", c.es.url, c.token}, {opaqueAlg, op.url, op.token}} {
		row, err := throughput(ctx, b.url, b.tok, b.alg, o.workers, o.tputDur)
		if err != nil {
			return err
		}
		r.tput = append(r.tput, row)
	}
	return nil
}

// setupMCPRemote installs mcp-remote and starts the server it fronts, or
// records why it is skipped and returns nil.
func setupMCPRemote(ctx context.Context, r *results, o *options, c *chain, tmp string) (*mcpRemote, error) {
	if o.noMCPRemote {
		r.mcpRemoteSkip = "skipped with -no-mcp-remote"
		return nil, nil
	}
	progress("installing mcp-remote@%s into a temporary directory", mcpRemoteVersion)
	m, err := installMCPRemote(ctx, tmp)
	if errors.Is(err, errSkip) {
		r.mcpRemoteSkip = err.Error()
		progress("mcp-remote: %v", err)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := m.startServer(ctx, c); err != nil {
		return nil, err
	}
	r.node, r.mcpRemote = m.node, m.version
	return m, nil
}
