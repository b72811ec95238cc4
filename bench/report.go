package main

import (
	"fmt"
	"strings"
	"time"
)

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

// markdown renders BENCHMARKS.md.
func (r *results) markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("# Benchmarks")
	w("")
	w("Written by `make bench` (the program in [bench/](bench/)) on %s. Every figure and ratio below comes from this one run;", r.date.UTC().Format("2006-01-02 15:04 MST"))
	w("run `make bench` to regenerate it on your machine. The benchmark reports and never fails on speed; nothing here is asserted in `go test`.")
	w("")
	r.machineSection(w)
	r.summary(w)
	r.coldSection(w)
	r.callSection(w)
	r.memorySection(w)
	r.jwtSection(w)
	r.tputSection(w)
	r.dpopSection(w)
	r.vaultSection(w)
	r.refreshSection(w)
	r.findings(w)
	r.methodSection(w)
	return b.String()
}

type writer func(format string, a ...any)

func (r *results) machineSection(w writer) {
	w("## Machine")
	w("")
	w("| | |")
	w("|---|---|")
	w("| CPU | %s |", r.machine.cpu)
	w("| logical cores | %d |", r.machine.cores)
	w("| OS | %s |", r.machine.os)
	w("| Go | %s |", r.machine.goVersion)
	if r.relayLinking != "" {
		w("| relay binary | %s |", r.relayLinking)
	}
	if r.opts.baseline != "" {
		what := r.opts.baselineLabel
		if what == "" {
			what = "`-baseline " + r.opts.baseline + "`"
		}
		if r.baselineLinking != "" {
			what += ", " + r.baselineLinking
		}
		w("| relay binary (baseline) | %s |", what)
	}
	if r.mcpRemote != "" {
		w("| Node.js | %s |", r.node)
		w("| mcp-remote | %s (npm, installed into a temporary directory for the run) |", r.mcpRemote)
	} else {
		w("| mcp-remote | not measured: %s |", r.mcpRemoteSkip)
	}
	w("| date | %s |", r.date.UTC().Format(time.RFC3339))
	w("")
}

// summary is the table of targets.
func (r *results) summary(w writer) {
	w("## Summary")
	w("")
	w("| # | measure | target | measured | met |")
	w("|---|---|---|---|---|")
	ri, rok := r.cold["relay/initialize"]
	mi, mok := r.cold["mcp-remote/initialize"]
	switch {
	case rok && mok:
		x := float64(mi.p50) / float64(ri.p50)
		w("| 1 | cold start to `initialize`, median | ≤ 20 ms; ≥ 20× faster than mcp-remote | %s; mcp-remote %s: %s faster | %s |",
			ms(ri.p50), ms(mi.p50), ratio(float64(mi.p50), float64(ri.p50)), yesNo(ri.p50 <= 20*time.Millisecond && x >= 20))
	case rok:
		w("| 1 | cold start to `initialize`, median | ≤ 20 ms; ≥ 20× faster than mcp-remote | %s; mcp-remote not measured | %s (20 ms part) |",
			ms(ri.p50), yesNo(ri.p50 <= 20*time.Millisecond))
	}
	for _, tool := range []string{"echo", "whoami"} {
		o50, _, ok := r.overhead("relay", "direct", tool)
		if !ok {
			continue
		}
		m50, _, mok := r.overhead("mcp-remote", "streamable", tool)
		if mok {
			w("| 2 | per-call overhead over direct HTTP, p50, `%s` | ≤ 0.3 ms; lower than mcp-remote's | %s; mcp-remote %s | %s |",
				tool, ms(o50), ms(m50), yesNo(o50 <= 300*time.Microsecond && o50 < m50))
		} else {
			w("| 2 | per-call overhead over direct HTTP, p50, `%s` | ≤ 0.3 ms; lower than mcp-remote's | %s; mcp-remote not measured | %s (0.3 ms part) |",
				tool, ms(o50), yesNo(o50 <= 300*time.Microsecond))
		}
	}
	if s, ok := r.rss["relay"]; ok {
		met := s[2] > 0 && s[2] <= 25<<20 && flat(s)
		mr, mok := r.rss["mcp-remote"]
		if mok && mr[2] > 0 {
			w("| 3 | relay RSS after 10,000 calls | ≤ 25 MB, flat, ≤ 1/3 of mcp-remote's | %s (after 1,000: %s); mcp-remote %s: %s | %s |",
				mib(s[2]), mib(s[1]), mib(mr[2]), ratio(float64(s[2]), float64(mr[2])), yesNo(met && 3*s[2] <= mr[2]))
		} else {
			w("| 3 | relay RSS after 10,000 calls | ≤ 25 MB, flat, ≤ 1/3 of mcp-remote's | %s (after 1,000: %s) | %s |", mib(s[2]), mib(s[1]), yesNo(met))
		}
	}
	for _, alg := range []string{"HS256", "RS256", "ES256", "EdDSA"} {
		v, raw := r.micro["BenchmarkValidate/"+alg], r.micro["BenchmarkRawVerify/"+alg]
		if v == 0 || raw == 0 {
			continue
		}
		if alg == "HS256" {
			w("| 4 | JWT validation, %s | within 20 µs | %.1f µs (raw %.1f µs, %s) | %s |", alg, v/1e3, raw/1e3, ratio(v, raw), yesNo(v <= 20e3))
		} else {
			w("| 4 | JWT validation, %s | within 1.3× of raw | %.1f µs vs raw %.1f µs: %s | %s |", alg, v/1e3, raw/1e3, ratio(v, raw), yesNo(v/raw <= 1.3))
		}
	}
	for _, t := range r.tput {
		w("| 5 | backend throughput auth/no-auth, %s tokens | ≥ 0.8 | %.0f / %.0f req/s; median of %d same-round ratios %.2f | %s |", t.alg, t.auth, t.noAuth, t.rounds, t.ratio, yesNo(t.ratio >= 0.8))
	}
	if f, m := r.micro["BenchmarkLoad/file"], r.micro["BenchmarkTokenMemory"]; f > 0 && m > 0 {
		kc := "skipped (no keychain)"
		if k := r.micro["BenchmarkLoad/keychain"]; k > 0 {
			kc = fmt.Sprintf("%.2f ms", k/1e6)
		}
		w("| 6 | vault: load once (keychain key / file key), then from memory | (reported) | %s / %.2f ms, then %.1f µs | — |", kc, f/1e6, m/1e3)
	}
	if len(r.refresh) > 0 {
		var counts []string
		all1 := true
		for _, rr := range r.refresh {
			counts = append(counts, fmt.Sprint(rr.refreshes))
			all1 = all1 && rr.refreshes == 1
		}
		w("| 7 | refresh requests for 64 concurrent calls with an expired token | exactly 1 | %s (%d rounds) | %s |", strings.Join(counts, ", "), len(r.refresh), yesNo(all1))
	}
	w("")
}

func (r *results) coldSection(w writer) {
	w("## 1. Cold start")
	w("")
	w("From just before the process is forked to the reply to its first request, read on stdout; a new process per sample, %d samples per row, the rows interleaved sample by sample%s.", r.opts.coldRuns, r.baselineTurns("sample"))
	w("")
	w("| server | first request | samples | median | p90 |")
	w("|---|---|---|---|---|")
	for _, k := range []string{"relay/initialize", "relay/server/discover", baselineName + "/initialize", baselineName + "/server/discover", "mcp-remote/initialize", "mcp-remote/server/discover"} {
		srv, req, _ := strings.Cut(k, "/")
		if d, ok := r.cold[k]; ok {
			w("| %s | `%s` | %d | %s | %s |", srv, req, d.n, ms(d.p50), ms(d.p90))
		} else if e, ok := r.coldErr[k]; ok {
			w("| %s | `%s` | — | failed: %s | |", srv, req, oneLine(e))
		}
	}
	w("")
	if ri, ok := r.cold["relay/initialize"]; ok {
		if mi, ok := r.cold["mcp-remote/initialize"]; ok {
			w("Ratio of medians, mcp-remote / relay, `initialize`: **%s**.", ratio(float64(mi.p50), float64(ri.p50)))
		}
	}
	if rd, ok := r.cold["relay/server/discover"]; ok {
		if md, ok := r.cold["mcp-remote/server/discover"]; ok {
			w("Ratio of medians, mcp-remote / relay, `server/discover`: **%s**.", ratio(float64(md.p50), float64(rd.p50)))
		}
	}
	for _, req := range []string{"initialize", "server/discover"} {
		cur, ok := r.cold["relay/"+req]
		base, bok := r.cold[baselineName+"/"+req]
		if ok && bok {
			w("Ratio of medians, relay / relay (baseline) (current / baseline: above 1 is slower), `%s`: **%s**.", req, ratio(float64(cur.p50), float64(base.p50)))
		}
	}
	w("")
	if r.init != nil {
		w("Package initialisation of the relay before `main` runs (`GODEBUG=inittrace=1`, median of 10 starts): %s in all, of which %s in `%s`.", ms(r.init.total), ms(r.init.top), r.init.topPkg)
		w("")
	}
	w("The relay answers both at once, without any network call. mcp-remote (run as `node_modules/.bin/mcp-remote`, not through `npx`, which would add more) connects to the remote server before it reads stdin, and forwards the request.")
	w("")
}

func (r *results) callSection(w writer) {
	w("## 2. Per-call overhead")
	w("")
	w("`tools/call` round trips with the token already in memory, %d calls per row, in alternating blocks of 50 across the paths%s, after 20 warm-up calls each.", r.opts.calls, r.baselineTurns("block"))
	w("The relay's *direct* path is the same call as an HTTP POST to the backend's tool endpoint with the same token (none for the public `echo`, as the relay sends none).")
	w("mcp-remote's *direct* path is the same `tools/call` POSTed straight to the Streamable HTTP server it fronts, with the same header.")
	w("")
	w("| tool | path | p50 | p99 |")
	w("|---|---|---|---|")
	for _, tool := range []string{"echo", "whoami"} {
		for _, p := range []string{"relay", baselineName, "direct", "mcp-remote", "streamable"} {
			if d, ok := r.calls[p+"/"+tool]; ok {
				w("| `%s` | %s | %s | %s |", tool, pathName(p), ms(d.p50), ms(d.p99))
			}
		}
	}
	w("")
	w("| tool | overhead of | p50 | p99 |")
	w("|---|---|---|---|")
	for _, tool := range []string{"echo", "whoami"} {
		if o50, o99, ok := r.overhead("relay", "direct", tool); ok {
			w("| `%s` | relay over direct HTTP | %s | %s |", tool, signed(o50), signed(o99))
		}
		if o50, o99, ok := r.overhead(baselineName, "direct", tool); ok {
			w("| `%s` | relay (baseline) over direct HTTP | %s | %s |", tool, signed(o50), signed(o99))
		}
		if o50, o99, ok := r.overhead("mcp-remote", "streamable", tool); ok {
			w("| `%s` | mcp-remote over direct Streamable HTTP | %s | %s |", tool, signed(o50), signed(o99))
		}
	}
	w("")
	r.baselineCallRatios(w)
}

// baselineTurns says, with a baseline relay, how it is interleaved with
// the current one; "" without one.
func (r *results) baselineTurns(unit string) string {
	if r.opts.baseline == "" {
		return ""
	}
	return fmt.Sprintf(" (the relay and the baseline relay swap places every other %s, so neither always runs first)", unit)
}

// baselineCallRatios writes, with a baseline relay, the ratios current /
// baseline of the per-call overhead p50 and of the round-trip p50.
func (r *results) baselineCallRatios(w writer) {
	wrote := false
	for _, tool := range []string{"echo", "whoami"} {
		cur, _, ok := r.overhead("relay", "direct", tool)
		base, _, bok := r.overhead(baselineName, "direct", tool)
		if !ok || !bok {
			continue
		}
		over := "n/a (an overhead at or below zero)"
		if cur > 0 && base > 0 {
			over = ratio(float64(cur), float64(base))
		}
		w("Ratio of per-call overhead p50, relay / relay (baseline) (current / baseline: above 1 is slower), `%s`: **%s** (%s against %s; of the round-trip p50s: %s).",
			tool, over, signed(cur), signed(base), ratio(float64(r.calls["relay/"+tool].p50), float64(r.calls[baselineName+"/"+tool].p50)))
		wrote = true
	}
	if wrote {
		w("")
	}
}

func pathName(p string) string {
	switch p {
	case "relay":
		return "stdio → relay → backend"
	case "direct":
		return "HTTP → backend (direct)"
	case baselineName:
		return "stdio → relay (baseline) → backend"
	case "mcp-remote":
		return "stdio → mcp-remote → Streamable HTTP server"
	}
	return "HTTP → Streamable HTTP server (direct)"
}

func signed(d time.Duration) string {
	if d < 0 {
		return "−" + ms(-d)
	}
	return ms(d)
}

func (r *results) memorySection(w writer) {
	w("## 3. Memory")
	w("")
	w("Resident set size (VmRSS in /proc/PID/status) of the stdio process: after `initialize`, after 1,000 and after 10,000 tool calls (half `echo`, half `whoami`). *Flat* means at most 10%% growth from 1,000 to 10,000 calls.")
	w("")
	w("| process | after start | after 1,000 calls | after 10,000 calls | flat |")
	w("|---|---|---|---|---|")
	for _, k := range []string{"relay", "mcp-remote"} {
		if s, ok := r.rss[k]; ok {
			w("| %s | %s | %s | %s | %s |", k, mib(s[0]), mib(s[1]), mib(s[2]), yesNo(flat(s)))
		}
	}
	if s, ok := r.rss["relay"]; ok {
		if m, ok := r.rss["mcp-remote"]; ok && s[2] > 0 && m[2] > 0 {
			w("")
			w("relay / mcp-remote after 10,000 calls: **%.2f** (target ≤ 0.33).", float64(s[2])/float64(m[2]))
		}
	}
	w("")
}

func (r *results) jwtSection(w writer) {
	w("## 4. JWT validation")
	w("")
	w("`go test -bench` in backend/bearer: `BenchmarkValidate` is the backend's whole check of a token not seen before (size, one pass over header and claims with their checks, key lookup, signature, `iss`, `aud`, `exp`, `nbf`, `iat`, lifetime; the verified-token cache off); `BenchmarkRawVerify` is the bare signature check of the same token; `BenchmarkValidateCached` is the same token seen before (SHA-256 of the token, cache lookup, the claim checks again, no signature check).")
	w("")
	w("| alg | validation | raw signature check | ratio | difference | token seen before |")
	w("|---|---|---|---|---|---|")
	for _, alg := range []string{"HS256", "RS256", "ES256", "EdDSA"} {
		v, raw := r.micro["BenchmarkValidate/"+alg], r.micro["BenchmarkRawVerify/"+alg]
		if v == 0 || raw == 0 {
			w("| %s | n/a | n/a | | | |", alg)
			continue
		}
		w("| %s | %.0f ns/op | %.0f ns/op | %s | %.1f µs | %.0f ns/op |", alg, v, raw, ratio(v, raw), (v-raw)/1e3, r.micro["BenchmarkValidateCached/"+alg])
	}
	w("")
	w("Each figure is the median of %d runs (`go test -count 1`, run %d times over, 1 s per benchmark): the runs of the benchmarks alternate, so a busy machine skews all columns alike.", benchCount, benchCount)
	w("")
}

func (r *results) tputSection(w writer) {
	w("## 5. Backend throughput")
	w("")
	if len(r.tput) > 0 {
		t := r.tput[0]
		w("The backend binary on loopback, loaded by this program with %d keep-alive connections on the same machine: the same tool, `echo`, without a token (no auth) and with a valid token (auth: the backend validates a token sent to any tool), and for reference `whoami` (a tool that requires auth) with the token; the modes alternate in short slices, %d rounds, %.0f s per mode in all; the rates are medians over the rounds, and the ratio is the median of the rounds' own ratios (auth / no auth in the same round), which the load of a shared machine, drifting over seconds, disturbs far less than one long phase per mode. The token is the same on every request, as from one relay, so after the first request validation takes the verified-token cache (`BenchmarkValidateCached`). Backend log level `warn`.", t.workers, t.rounds, t.perModeSeconds)
	}
	w("")
	w("| tokens | no auth (`echo`) | auth (`echo` + token) | auth / no auth | `whoami` + token |")
	w("|---|---|---|---|---|")
	for _, t := range r.tput {
		w("| %s | %.0f req/s | %.0f req/s | %.2f | %.0f req/s |", t.alg, t.noAuth, t.auth, t.ratio, t.whoami)
	}
	w("")
	w("HS256: the backend run with `JWT_SECRET`, tokens minted by the bench. ES256: `backend --auth-server`, tokens from its authorization server (the relay's own token). %s: `backend --auth-server` with `AUTH_TOKEN_FORMAT=opaque` and `BACKEND_INTROSPECTION=1`, a machine client's token; the first request asks the server's `/introspect` (on the same process, over loopback), the rest take the introspection cache (`BACKEND_INTROSPECTION_CACHE`, 60 s), as they would with any provider.", opaqueAlg)
	w("")
}

func (r *results) vaultSection(w writer) {
	w("## 6. Vault")
	w("")
	w("| what | cost per op | benchmark |")
	w("|---|---|---|")
	row := func(what, name string) {
		if v, ok := r.micro[name]; ok {
			w("| %s | %s | `%s` |", what, nsString(v), name)
		} else {
			w("| %s | n/a (not run) | `%s` |", what, name)
		}
	}
	row("once per process: open the vault, key from the OS keychain (Secret Service), decrypt tokens.age", "BenchmarkLoad/keychain")
	row("once per process: open the vault, key from a file, decrypt tokens.age", "BenchmarkLoad/file")
	row("vault read with the key already unwrapped (lock, read, decrypt)", "BenchmarkGetCachedKey")
	row("every later call: the token from the broker's memory (one stat of tokens.age to notice other processes' changes)", "BenchmarkTokenMemory")
	w("")
}

func nsString(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

func (r *results) refreshSection(w writer) {
	w("## 7. Refresh under contention")
	w("")
	w("A relay signed in to a backend whose tokens live %v; each round waits until the stored access token has expired, then a new relay process gets 64 concurrent `whoami` calls on its stdin; a proxy in front of the authorization server counts `grant_type=refresh_token` requests.", refreshTTL)
	w("")
	w("| round | concurrent calls | refresh requests | all 64 answered in |")
	w("|---|---|---|---|")
	for i, rr := range r.refresh {
		w("| %d | 64 | %d | %s |", i+1, rr.refreshes, ms(rr.elapsed))
	}
	w("")
}

func (r *results) methodSection(w writer) {
	w("## How it was run")
	w("")
	w("```sh")
	w("make bench")
	w("# which runs:")
	w("CGO_ENABLED=0 go build -o bin/ ./backend ./relay ./internal/fakebrowser/cmd/fakebrowser ./bench")
	w("./scripts/with-secret-service.sh bin/bench -go go -bins bin -out BENCHMARKS.md")
	w("# bin/bench in turn runs, %d times over:", benchCount)
	for _, g := range goBenches {
		w("go %s", strings.Join(quoteArgs(g.args()), " "))
	}
	if r.mcpRemote != "" {
		w("npm install --prefix $TMP/npm --no-save --no-audit --no-fund --loglevel=error mcp-remote@%s", r.mcpRemote)
		w("$TMP/npm/node_modules/.bin/mcp-remote http://127.0.0.1:PORT/mcp --header 'Authorization:${AUTH_HEADER}'   # AUTH_HEADER='Bearer <token>'")
		w("bin/bench mcpserver -issuer ... -audience ...   # the Streamable HTTP server mcp-remote fronts")
	}
	w("bin/backend --auth-server   # AUTH_SERVER_ADDR, AUTH_SERVER_URL=<counting proxy>, AUTH_TOKEN_TTL=1h (2s for section 7), BACKEND_LOG_LEVEL=warn")
	w("bin/backend                 # JWT_SECRET=..., AUTH_SERVER_URL=%s, BACKEND_LOG_LEVEL=warn", hsIssuer)
	w("bin/relay login             # once, BROWSER=bin/fakebrowser, RELAY_VAULT_KEY=file:...")
	w("bin/relay serve             # per sample / session")
	if r.opts.baseline != "" {
		w("# with -baseline DIR (make bench BASELINE=REV builds REV's relay in a temporary git worktree")
		w("# with CGO_ENABLED=0 go build -o bin/baseline/relay ./relay, and passes -baseline bin/baseline -baseline-label REV):")
		w("DIR/relay login             # once, its own RELAY_DATA_DIR and vault key file, same backend")
		w("DIR/relay serve             # per sample / session, interleaved with bin/relay serve")
	}
	w("```")
	w("")
	w("Set-up: the relay uses the static client `relay`, a file vault key and the ES256 backend with its built-in authorization server, signed in once by the scripted browser; the direct calls and mcp-remote use the same access token (the one the authorization server issued at that sign-in, seen by the counting proxy). The Streamable HTTP server is mcp-go's, with the same `echo` and `whoami` tools behind golang-jwt validation with the options package `bearer` uses and the issuer's JWKS (bench may not import `backend/bearer`: internal/archtest), without bearer's extra pre-checks, if anything in mcp-remote's favour. Processes get a thin environment (PATH, HOME). Timing uses Go's monotonic clock; percentiles are nearest-rank.")
	w("")
}

func (r *results) findings(w writer) {
	w("## Findings")
	w("")
	for _, t := range r.tput {
		if t.ratio >= 0.8 {
			continue
		}
		perReq := (1/t.auth - 1/t.noAuth) * 1e6 // µs of extra service time per request
		alg := t.alg
		if alg == opaqueAlg {
			w("- **Throughput with %s tokens misses 0.8 (%.2f).** Each authenticated request costs about %.0f µs more of the machine (1/auth − 1/no-auth; load generator and backend share %d cores). %s",
				alg, t.ratio, perReq, r.machine.cores, tputCause(alg))
			continue
		}
		raw, v := r.micro["BenchmarkRawVerify/"+alg], r.micro["BenchmarkValidate/"+alg]
		w("- **Throughput with %s tokens misses 0.8 (%.2f).** Each authenticated request costs about %.0f µs more of the machine (1/auth − 1/no-auth; load generator and backend share %d cores), "+
			"against about %.0f µs for a whole unauthenticated request; the whole validation is %.0f µs in the micro benchmark (raw signature check %.0f µs). %s",
			alg, t.ratio, perReq, r.machine.cores, 1e6/t.noAuth*float64(min(r.machine.cores, t.workers)), v/1e3, raw/1e3, tputCause(alg))
	}
	r.coldFinding(w)
	r.callFinding(w)
	if s, ok := r.rss["mcp-remote"]; ok && !flat(s) && s[1] > 0 {
		w("- mcp-remote's RSS kept growing: %s after 1,000 calls, %s after 10,000.", mib(s[1]), mib(s[2]))
	}
	for _, n := range r.notes {
		w("- %s", n)
	}
	w("- Noise: figures from a shared or busy machine vary from run to run by tens of percent; compare only figures from the same run, as every ratio here is.")
	w("")
}

// tputCause says where the extra cost of an authenticated request goes.
func tputCause(alg string) string {
	if alg == "HS256" {
		return "With the cache a validation is a hash and a lookup; the rest is reading a request with a ~0.5 KB Authorization header."
	}
	if alg == opaqueAlg {
		return "With the introspection cache a check is a SHA-256 of the token and a map lookup under a lock; the endpoint is asked once per token and cache period."
	}
	return "With the cache the signature is checked once per token, not per request; without it, a public-key signature check costs more than a whole loopback `echo`, so no key-set validator could reach 0.8 on such a tool."
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, "^$|()") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return out
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
