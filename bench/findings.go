package main

import "time"

// coldFinding says what the relay's cold start consists of and what was
// done about it, from profiles of its start (GODEBUG=inittrace=1, callgrind,
// timestamps in main, and interleaved A/B runs of the binaries).
func (r *results) coldFinding(w writer) {
	ri, ok := r.cold["relay/initialize"]
	if !ok {
		return
	}
	verdict := "meets the 20 ms target"
	if ri.p50 > 20*time.Millisecond {
		verdict = "misses the 20 ms target"
	}
	w("- **Cold start (%s median) %s.** The relay does no network, keychain or vault work before answering `initialize`; "+
		"its start is process creation, the Go runtime, page faults of a 12 MB binary and package initialisation (section 1 gives the `GODEBUG=inittrace=1` total). "+
		"The largest init cost there was, `github.com/santhosh-tekuri/jsonschema/v6` (12–15 ms: it compiles every JSON Schema meta-schema in `init`), came in through mcp-go's `server` package; "+
		"the relay no longer links it (it speaks JSON-RPC and Streamable HTTP itself, in relay/front and relay/mcphttp; `internal/archtest` `TestRelayLinksNoMCPGo`), which took the median from about 29 ms to about 20 ms on this machine. "+
		"A second profile (callgrind: 3.1 M instructions from exec to the answer, now 2.5 M, and 2.0 M with the --mcp-url mode off mcp-go; timestamps in `main`) found four more causes. "+
		"(1) mcp-go's `mcp` package, kept for its types, linked `github.com/google/jsonschema-go` (its `init` compiles regular expressions: about 1 M of the 2.4 M instructions of a cgo-free start), `html/template`, `spf13/cast` and `uritemplate`; "+
		"the relay now writes its own result types and `internal/mcp` holds the protocol names, so no part of mcp-go is linked. "+
		"(2) `main` spent about 2 ms before reading stdin: 0.5–1.5 ms opening the vault and reading the policy, about 0.7 ms installing the signal handlers (the runtime starts a thread for them); "+
		"the stdio server now wires the policy, the vault and the login on the first `tools/list` or `tools/call` (`front.Config.Wire`), and installs the handlers on a goroutine that runs once the first answer is out. "+
		"Together, in interleaved runs on this shared 2-core machine under load: 22.5 → 21.4 ms, and 19.4 ms with the --mcp-url mode off mcp-go. "+
		"(3) A relay built with cgo (the Go default wherever a C compiler is found) is dynamically linked: the dynamic loader, libc and cgo's thread start-up cost about 3 ms of every start (22.5 → 17.8 ms with `CGO_ENABLED=0` alone; 16.5 ms with the fixes above); the relay needs no cgo, and `make cross` already builds without it. "+
		"(4) What is left is mostly process creation and page faults (a Go hello world starts in about 6 ms here), which vary from run to run by more than a millisecond.", ms(ri.p50), verdict)
	if r.relayLinking == linkedDynamic {
		w("- The relay measured here was built with cgo (see Machine): build it with `CGO_ENABLED=0` for about 3 ms less per start.")
	}
}

// callFinding says where the relay's per-call overhead goes and what was
// done about it, from perf profiles of the relay during the per-call phase
// and interleaved A/B runs.
func (r *results) callFinding(w writer) {
	o, _, ok := r.overhead("relay", "direct", "echo")
	if !ok {
		return
	}
	verdict := "meets the 0.3 ms target"
	for _, tool := range []string{"echo", "whoami"} {
		if o, _, ok := r.overhead("relay", "direct", tool); ok && o > 300*time.Microsecond {
			verdict = "misses the 0.3 ms target"
		}
	}
	w("- **Per-call overhead (`echo` %s p50) %s.** The relay's path adds, to the direct call, a line read from stdin and written to stdout through two pipes, "+
		"the JSON-RPC decoding and encoding of the request and the result, the broker's in-memory token check (one `stat` of tokens.age, to notice other processes' refreshes and a `relay logout`; kept) and its own HTTP round trip on a kept-alive connection. "+
		"A `perf record -g` profile of the relay during the per-call phase put 13%% of its samples in its own code and encoding/json, 15%% in the kernel, 18%% in the Go scheduler (futex, `findRunnable`, `sysmon`, `usleep`), "+
		"9%% in allocation and GC and 7%% in growing the stack of the goroutine started per call. "+
		"The cause was hand-offs between OS threads: the blocking read of stdin held a thread in the kernel, each request's goroutine, and net/http's reader and writer goroutines, were woken on another thread, "+
		"10 context switches per call in all, each a futex wake and a context switch on a 2-core machine shared with the client and the backend. "+
		"`relay serve` now reads stdin through the runtime's poller (`platform.PollableStdin`: O_NONBLOCK on its pipe or socket) and runs with one P (`GOMAXPROCS=1` unless set in the environment), "+
		"so a message, its handler and the HTTP round trip run one after another on one thread: 4.9 context switches per call, and an `echo` overhead of 0.15–0.18 ms against 0.28–0.31 ms before in interleaved runs under load.", ms(o), verdict)
}
