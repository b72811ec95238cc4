package main

import "time"

// results holds every figure of one run.
type results struct {
	date          time.Time
	machine       machine
	opts          *options
	node          string // node version, "" without mcp-remote
	mcpRemote     string // mcp-remote version
	mcpRemoteSkip string // why mcp-remote was not measured
	relayLinking  string // how bin/relay was linked; see linking
	// baselineLinking is how the -baseline relay was linked; "" without one.
	baselineLinking string

	cold    map[string]dist   // "relay/initialize", "relay (baseline)/initialize", "mcp-remote/server/discover", ...
	coldErr map[string]string // kinds that failed, with the reason
	calls   map[string]dist   // "relay/echo", "relay (baseline)/echo", "direct/whoami", "mcp-remote/echo", "streamable/whoami"
	rss     map[string][3]int64
	micro   map[string]float64 // go test ns/op by benchmark name
	tput    []tputRow
	refresh []refreshRound
	init    *initCost // the relay's package initialisation
	dpop    *dpopResult
	notes   []string
}

func newResults(m machine, o *options) *results {
	return &results{date: time.Now(), machine: m, opts: o,
		cold: map[string]dist{}, coldErr: map[string]string{}, calls: map[string]dist{},
		rss: map[string][3]int64{}, micro: map[string]float64{}}
}

// overhead is the p50 and p99 of a stdio path minus those of its direct
// HTTP path, for one tool.
func (r *results) overhead(via, direct, tool string) (p50, p99 time.Duration, ok bool) {
	a, okA := r.calls[via+"/"+tool]
	b, okB := r.calls[direct+"/"+tool]
	if !okA || !okB {
		return 0, 0, false
	}
	return a.p50 - b.p50, a.p99 - b.p99, true
}

// flat reports whether RSS grew by at most 10% from 1,000 to 10,000 calls.
func flat(s [3]int64) bool {
	return s[1] > 0 && s[2] > 0 && float64(s[2]) <= 1.10*float64(s[1])
}
