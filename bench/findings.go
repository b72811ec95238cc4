package main

import "time"

// coldFinding explains a cold start over target with what the profile of
// the relay's start showed.
func (r *results) coldFinding(w writer) {
	ri, ok := r.cold["relay/initialize"]
	if !ok || ri.p50 <= 20*time.Millisecond {
		return
	}
	w("- **Cold start misses 20 ms (%s median).** The relay does no network, keychain or vault work before answering `initialize`; "+
		"its start is the Go runtime, page faults of the binary and package initialisation (section 1 gives the `GODEBUG=inittrace=1` total). "+
		"The largest init cost there was, `github.com/santhosh-tekuri/jsonschema/v6` (12–15 ms: it compiles every JSON Schema meta-schema in `init`), came in through mcp-go's `server` package; "+
		"the relay no longer links it (relay/serve and relay/proxy speak JSON-RPC and Streamable HTTP themselves; `relay/proxy` `TestNoMCPServerDependency`), which took the median from about 29 ms to about 20 ms on this machine. "+
		"What is left is mostly process start-up, which varies from run to run by more than the remaining distance to the target.", ms(ri.p50))
}

// callFinding explains a per-call overhead over target with what a perf
// profile of the relay during the per-call phase showed.
func (r *results) callFinding(w writer) {
	miss := false
	for _, tool := range []string{"echo", "whoami"} {
		if o, _, ok := r.overhead("relay", "direct", tool); ok && o > 300*time.Microsecond {
			miss = true
		}
	}
	if !miss {
		return
	}
	w("%s", "- **Per-call overhead above 0.3 ms.** The relay's path adds, to the direct call, a line read from stdin and written to stdout through two pipes, "+
		"the JSON-RPC decoding and encoding of the request and the result, the broker's in-memory token check (one `stat` of tokens.age, to notice other processes' changes) and its own HTTP round trip on a kept-alive connection. "+
		"A `perf record -g` profile taken before relay/serve replaced mcp-go's stdio server put half of the relay's samples in the kernel (those syscalls and goroutine wake-ups) and under 6% in keyrelay's own code; "+
		"it has not been repeated since the replacement, which removed mcp-go's reader → worker → writer hand-offs.")
}
