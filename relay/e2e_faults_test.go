package main

// Fault-injection tests: processes killed at random points, many relays
// refreshing one expired token at once, a malformed stdio stream, and a
// client that disappears in the middle of a call.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/chain"
	"github.com/keyrelay/keyrelay/internal/testkit/faultfs"
	"github.com/keyrelay/keyrelay/platform"
	"github.com/keyrelay/keyrelay/relay/front"
	"github.com/keyrelay/keyrelay/vault"
)

const (
	initializeLine  = `{"jsonrpc":"2.0","id":%d,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"faults","version":"1"}}}`
	initializedLine = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
	callLine        = `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s}}`
)

// call sends initialize (id 1), notifications/initialized and a call of
// tool (id 2) with args (JSON), without waiting for an answer.
func call(t *testing.T, p *testkit.Stdio, tool, args string) {
	t.Helper()
	p.Send(t, fmt.Sprintf(initializeLine, 1))
	p.Send(t, initializedLine)
	p.Send(t, fmt.Sprintf(callLine, 2, tool, args))
}

// serveWhoami runs `relay serve` on raw pipes and calls whoami (call).
func (e *relayEnv) serveWhoami(t *testing.T) *testkit.Proc {
	t.Helper()
	p := e.Start(t, []string{"serve"})
	call(t, p.Stdio, "whoami", "{}")
	return p
}

// noPanic fails if stderr shows a Go panic or goroutine dump.
func noPanic(t *testing.T, who, stderr string) {
	t.Helper()
	if strings.Contains(stderr, "panic:") || strings.Contains(stderr, "goroutine ") {
		t.Errorf("%s: panic or goroutine dump in stderr:\n%s", who, testkit.Tail(stderr))
	}
}

// runCLIWithin runs a relay command and fails if it does not end within d
// (a vault lock left held would hang it).
func (e *relayEnv) runCLIWithin(t *testing.T, d time.Duration, args ...string) (string, string, int) {
	t.Helper()
	p := e.Start(t, args)
	p.In.Close()
	if !p.Exited(d) {
		t.Fatalf("relay %s did not finish within %v (a vault lock left held?)\n%s", strings.Join(args, " "), d, p.Stderr.Tail())
	}
	return p.Rest(), p.Stderr.String(), p.Cmd.ProcessState.ExitCode()
}

func (e *relayEnv) mustCLI(t *testing.T, args ...string) time.Duration {
	t.Helper()
	start := time.Now()
	_, stderr, code := e.runCLIWithin(t, 60*time.Second, args...)
	if code != 0 {
		t.Fatalf("relay %s: exit %d\n%s", strings.Join(args, " "), code, testkit.Tail(stderr))
	}
	return time.Since(start)
}

// refreshStorm starts n relays and, once the stored token has expired,
// makes m concurrent whoami calls in each: exactly one refresh reaches the
// server, every call succeeds, no relay sees a dead refresh token, and the
// vault holds the refreshed token.
func refreshStorm(t *testing.T, c *chain.Server, e *relayEnv, n, m, round int) {
	t.Helper()
	sessions := make([]*session, n)
	for i := range sessions {
		sessions[i] = e.start()
	}
	old := e.stored(t)
	e.expireStored()
	r0 := c.Refreshes.Load()
	gate := make(chan struct{})
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i, s := range sessions {
		for j := range m {
			wg.Go(func() {
				<-gate
				out, isErr, err := s.CallTool("whoami", nil, 90*time.Second)
				if err != nil || isErr || !strings.Contains(out, `"subject": "alice"`) {
					failed.Add(1)
					t.Errorf("round %d relay %d call %d: %v isError=%v %.200s", round, i, j, err, isErr, out)
				}
			})
		}
	}
	close(gate)
	wg.Wait()
	if k := c.Refreshes.Load() - r0; k != 1 {
		t.Errorf("round %d: %d refresh requests reached the server for %d calls in %d processes, want 1", round, k, n*m, n)
	}
	for i, s := range sessions {
		log := s.Stderr.String()
		if strings.Contains(log, "invalid_grant") || strings.Contains(log, "no longer valid") {
			t.Errorf("round %d relay %d saw a dead refresh token:\n%s", round, i, testkit.Tail(log))
		}
		noPanic(t, fmt.Sprintf("relay %d", i), log)
		_ = s.Client.Close()
	}
	if now := e.stored(t); now.AccessToken.Equal(old.AccessToken) || !now.Expiry.After(time.Now()) {
		t.Errorf("round %d: the vault does not hold the refreshed token", round)
	}
	t.Logf("round %d: %d calls in %d processes, %d failed, %d refresh", round, n*m, n, failed.Load(), c.Refreshes.Load()-r0)
	if t.Failed() {
		t.FailNow()
	}
}

// vaultFiles checks the data directory: only the vault's own files and the
// temporary files of interrupted atomic writes (which reads ignore and
// logout removes) may be there; nothing may have been moved aside as
// corrupt. It returns the number of temporary files.
func (e *relayEnv) vaultFiles(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir(e.Dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	temps := 0
	for _, f := range entries {
		switch n := f.Name(); {
		case n == "vault.lock" || n == "vault.json" || n == "tokens.age" || n == "key.age":
		case strings.Contains(n, ".corrupt-"):
			t.Fatalf("a vault file was moved aside as corrupt: %s", n)
		case platform.IsAtomicTemp(n):
			temps++
		default:
			t.Fatalf("stray file in the data directory: %s", n)
		}
	}
	return temps
}

// nextRunWorks checks that a fresh relay serves a whoami (signing in again
// if it must) and that `relay status` exits cleanly, within deadlines.
func (e *relayEnv) nextRunWorks(t *testing.T) {
	t.Helper()
	p := e.serveWhoami(t)
	got := p.Responses(t, 45*time.Second, "1", "2")
	if r := got["1"]; r.Error != nil {
		t.Fatalf("the next run's initialize failed: %s", r.Raw)
	}
	if r := got["2"]; r.Error != nil || !strings.Contains(r.Raw, `\"subject\": \"alice\"`) || strings.Contains(r.Raw, `"isError":true`) {
		t.Fatalf("the next run's whoami failed: %s\n%s", got["2"].Raw, p.Stderr.Tail())
	}
	p.In.Close()
	if !p.Exited(10 * time.Second) {
		t.Fatal("relay serve did not exit after stdin closed")
	}
	noPanic(t, "serve", p.Stderr.String())
	out, stderr, code := e.runCLIWithin(t, 20*time.Second, "status")
	if code != 0 || !strings.Contains(out, "logged in as alice") || strings.Contains(out, "problem:") {
		t.Fatalf("status after the kill: exit %d\n%s%s", code, out, stderr)
	}
}

// randomSeed is the random seed, from FAULT_SEED to reproduce a run.
func randomSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FAULT_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		testkit.NoErr(t, err, "FAULT_SEED")
		seed = n
	}
	t.Logf("random seed %d (rerun with FAULT_SEED=%d)", seed, seed)
	return seed
}

// TestFault_SIGKILLDuringLoginRefreshLogout kills relays with SIGKILL at
// random points of a login, a refresh (by `relay login` and by `relay
// serve`) and a logout, and checks after each kill that the vault holds
// either the old or the new state and reads cleanly, that no lock is left
// held, that nothing was moved aside as corrupt, and that the next run
// works.
func TestFault_SIGKILLDuringLoginRefreshLogout(t *testing.T) {
	rng := rand.New(rand.NewPCG(randomSeed(t), 0x6b6579))
	c, e := backendEnv(t)

	// How long each operation takes here, uninterrupted: the kills land
	// at random points within 1.25 times that.
	dur := map[string]time.Duration{}
	dur["login"] = e.mustCLI(t, "login")
	e.expireStored()
	dur["refresh-cli"] = e.mustCLI(t, "login")
	if c.Refreshes.Load() != 1 {
		t.Fatalf("`relay login` with an expired token made %d refreshes, want 1", c.Refreshes.Load())
	}
	e.expireStored()
	start := time.Now()
	testkit.Contains(t, "whoami", e.serveWhoami(t).Responses(t, 45*time.Second, "1", "2")["2"].Raw, "alice")
	dur["refresh-serve"] = time.Since(start)
	dur["logout"] = e.mustCLI(t, "logout")
	t.Logf("uninterrupted durations: %v", dur)

	// 20 kills. Logins are few: each costs a bcrypt check at the
	// authorization server, slow under the race detector.
	kinds := []string{}
	for range 4 {
		kinds = append(kinds, "login", "logout")
	}
	for range 6 {
		kinds = append(kinds, "refresh-cli", "refresh-serve")
	}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	var killed, newState, temps int
	for i, kind := range kinds {
		// Bring the vault to the state the operation starts from.
		switch kind {
		case "login":
			if e.stored(t) != nil {
				e.mustCLI(t, "logout")
			}
		default:
			if e.stored(t) == nil {
				e.mustCLI(t, "login")
			}
			if strings.HasPrefix(kind, "refresh") {
				e.expireStored()
			}
		}
		before := e.stored(t)
		delay := time.Duration(rng.Int64N(int64(dur[kind])*5/4 + 1))
		var p *testkit.Proc
		switch kind {
		case "login", "refresh-cli":
			p = e.Start(t, []string{"login"})
		case "logout":
			p = e.Start(t, []string{"logout"})
		case "refresh-serve":
			p = e.serveWhoami(t)
		}
		k := p.KillAfter(t, delay)
		if k {
			killed++
		}
		noPanic(t, kind, p.Stderr.String())
		temps = e.vaultFiles(t)
		after := e.stored(t)
		isNew := checkOldOrNew(t, kind, before, after)
		if isNew {
			newState++
		}
		t.Logf("%2d %-13s kill after %-12v killed=%-5v state=%s temp files=%d", i, kind, delay, k, map[bool]string{true: "new", false: "old"}[isNew], temps)
		e.nextRunWorks(t)
	}
	t.Logf("%d of %d runs killed mid-way; %d ended in the new state; %d temporary files left in the data dir", killed, len(kinds), newState, temps)
	if killed < len(kinds)/3 {
		t.Fatalf("only %d of %d runs were killed while running: the kills did not exercise anything", killed, len(kinds))
	}
	// logout removes the leftovers of interrupted writes.
	e.mustCLI(t, "logout")
	if n := e.vaultFiles(t); n != 0 {
		t.Fatalf("%d temporary files left after logout", n)
	}
}

// checkOldOrNew fails unless after is the state before the operation or
// a complete state after it, and reports which.
func checkOldOrNew(t *testing.T, kind string, before, after *vault.Record) bool {
	t.Helper()
	complete := func(r *vault.Record) bool {
		return r.Subject == chain.User && !r.AccessToken.IsZero() && !r.RefreshToken.IsZero() && r.Expiry.After(time.Now())
	}
	same := func(a, b *vault.Record) bool {
		return a.AccessToken.Equal(b.AccessToken) && a.RefreshToken.Equal(b.RefreshToken) && a.Expiry.Equal(b.Expiry)
	}
	switch kind {
	case "login":
		if after == nil {
			return false
		}
		if !complete(after) {
			t.Fatalf("login killed: the vault holds an incomplete record (sub %q, expiry %v)", after.Subject, after.Expiry)
		}
		return true
	case "logout":
		if after == nil {
			return true
		}
		if !same(before, after) {
			t.Fatal("logout killed: the vault holds a record that is neither the old one nor none")
		}
		return false
	default: // refresh
		if after == nil {
			t.Fatal("refresh killed: the record is gone")
		}
		if same(before, after) {
			return false
		}
		if !complete(after) || after.AccessToken.Equal(before.AccessToken) {
			t.Fatalf("refresh killed: the vault holds an incomplete record (sub %q, expiry %v)", after.Subject, after.Expiry)
		}
		return true
	}
}

// TestFault_NProcessesMCallsExpiredToken: N relay processes on one vault
// make M concurrent calls each with an expired token. For each of two
// successive expiries exactly one refresh reaches the authorization
// server, every call succeeds, no relay sees invalid_grant, and no new
// sign-in happens (a reused refresh token would revoke the family and
// force one).
func TestFault_NProcessesMCallsExpiredToken(t *testing.T) {
	const N, M = 4, 8
	c, e := backendEnv(t)
	e.mustCLI(t, "login")
	codes, opens := c.Codes.Load(), e.opens()
	for round := 1; round <= 2; round++ {
		refreshStorm(t, c, e, N, M, round)
	}
	// The last refresh token is alive (not revoked as reused): one more
	// expiry is refreshed, and calls work, with no new sign-in.
	e.expireStored()
	r0 := c.Refreshes.Load()
	if out, isErr, err := e.start().CallTool("whoami", nil, 60*time.Second); err != nil || isErr || !strings.Contains(out, "alice") {
		t.Fatalf("call after the rounds: %v isError=%v %s", err, isErr, out)
	}
	if c.Refreshes.Load()-r0 != 1 || c.Codes.Load() != codes || e.opens() != opens {
		t.Fatalf("after the rounds: %d refreshes (want 1), %d→%d code exchanges, %d→%d browser opens (want unchanged)",
			c.Refreshes.Load()-r0, codes, c.Codes.Load(), opens, e.opens())
	}
}

// TestFault_MalformedStdio sends the relay binary a malformed stream on raw
// pipes, before any initialize: a huge line under the limit and binary
// garbage each get a parse error, in bounded memory; a valid session
// still works after them, and the relay exits cleanly when stdin ends: no
// panic, no hang. (Each kind of bad message and its exact error code, in
// both modes: TestBothModesAnswerAlike.)
func TestFault_MalformedStdio(t *testing.T) {
	_, e := backendEnv(t)
	p := e.Start(t, []string{"serve"})
	pid := p.Cmd.Process.Pid
	base := peakRSS(t, pid)

	// A huge line under the limit: 8 MiB without a newline, then the newline.
	const huge = 8 << 20
	select {
	case err := <-feed(p.In, huge, "\n"):
		if err != nil {
			t.Fatalf("writing the huge line: %v (relay exited? %s)", err, p.Stderr.Tail())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the relay stopped reading a huge line")
	}
	m, ok := p.Next(t, 30*time.Second)
	if !ok || m.Error == nil || m.Error.Code != -32700 {
		t.Fatalf("huge line: got %q (ok=%v), want a parse error\n%s", m.Raw, ok, p.Stderr.Tail())
	}
	peak := peakRSS(t, pid)
	t.Logf("huge line (%d MiB): parse error; VmHWM %d KiB before, %d KiB after (+%d MiB)", huge>>20, base>>10, peak>>10, (peak-base)>>20)
	// Reading a line of L bytes costs a few copies of L; more than 16
	// copies would mean something holds or multiplies the input.
	if peak-base > 16*huge {
		t.Errorf("memory grew by %d MiB for a %d MiB line", (peak-base)>>20, huge>>20)
	}

	// Binary garbage on one line: NULs, invalid UTF-8, control bytes.
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(rng.IntN(256))
		if garbage[i] == '\n' {
			garbage[i] = 0
		}
	}
	p.Send(t, string(garbage))
	if m, ok := p.Next(t, 15*time.Second); !ok || m.Error == nil || m.Error.Code != -32700 {
		t.Fatalf("binary garbage: got %q (ok=%v), want a parse error", m.Raw, ok)
	}

	// A valid session still works.
	p.Send(t, fmt.Sprintf(initializeLine, 10))
	p.Send(t, initializedLine)
	p.Send(t, `{"jsonrpc":"2.0","id":11,"method":"tools/list"}`)
	p.Send(t, fmt.Sprintf(callLine, 12, "echo", `{"message":"still here"}`))
	got := p.Responses(t, 30*time.Second, "10", "11", "12")
	if got["10"].Error != nil || !strings.Contains(got["10"].Raw, `"serverInfo"`) {
		t.Errorf("initialize after garbage: %s", got["10"].Raw)
	}
	if got["11"].Error != nil || !strings.Contains(got["11"].Raw, `"name":"whoami"`) {
		t.Errorf("tools/list after garbage: %.300s", got["11"].Raw)
	}
	testkit.Contains(t, "echo after garbage", got["12"].Raw, "still here")

	p.In.Close()
	if !p.Exited(10 * time.Second) {
		t.Fatal("the relay did not exit within 10 s after stdin closed")
	}
	st := p.Cmd.ProcessState
	t.Logf("exit after stdin closed: %v", st)
	if !st.Success() {
		t.Errorf("exit after stdin closed: %v\n%s", st, p.Stderr.Tail())
	}
	noPanic(t, "serve", p.Stderr.String())
}

// TestFault_OverlongLineDroppedInBoundedMemory: a line eight times longer
// than front.MaxMessage (a broken client's) is read to its end and dropped,
// with a -32600 answer, and the session goes on; the relay's memory never
// holds the line: its peak RSS stays under three times the limit, far
// below the line.
func TestFault_OverlongLineDroppedInBoundedMemory(t *testing.T) {
	_, e := backendEnv(t)
	p := e.Start(t, []string{"serve"})
	p.Send(t, fmt.Sprintf(initializeLine, 1))
	if _, ok := p.Next(t, 15*time.Second); !ok {
		t.Fatalf("no initialize answer\n%s", p.Stderr.Tail())
	}
	wrote := feed(p.In, 8*front.MaxMessage, "\n"+`{"jsonrpc":"2.0","id":"after","method":"ping"}`+"\n")
	m, ok := p.Next(t, 120*time.Second)
	if !ok || m.Error == nil || m.Error.Code != -32600 || string(m.ID) != "null" || !strings.Contains(m.Error.Message, "over 16 MiB") {
		t.Fatalf("over-long line: %+v\n%s", m, p.Stderr.Tail())
	}
	if m, ok := p.Next(t, 15*time.Second); !ok || string(m.ID) != `"after"` || m.Error != nil {
		t.Fatalf("the session did not go on: %+v", m)
	}
	testkit.NoErr(t, <-wrote, "the relay stopped reading")
	peak := peakRSS(t, p.Cmd.Process.Pid)
	if peak > 3*front.MaxMessage {
		t.Fatalf("peak RSS %d MiB for a %d MiB line: the relay held the line", peak>>20, 8*front.MaxMessage>>20)
	}
	noPanic(t, "serve", p.Stderr.String())
	t.Logf("a %d MiB line dropped; peak RSS %d MiB", 8*front.MaxMessage>>20, peak>>20)
}

// peakRSS is the process's peak resident set size (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	testkit.NoErr(t, err, "peak RSS")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmHWM:" && f[2] == "kB" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			testkit.NoErr(t, err)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// feed writes n bytes of 'x' to w, then tail, on a goroutine of its own,
// and sends the error that ended it.
func feed(w io.Writer, n int64, tail string) chan error {
	wrote := make(chan error, 1)
	go func() {
		_, err := io.Copy(w, io.LimitReader(repeatReader('x'), n))
		if err == nil {
			_, err = io.WriteString(w, tail)
		}
		wrote <- err
	}()
	return wrote
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// slowBackend is a proxy in front of the chain's backend that holds every
// call of the echo tool until the caller gives up; it records that the
// relay cancelled the request.
type slowBackend struct {
	url       string
	arrived   chan struct{}
	cancelled atomic.Int64
}

func newSlowBackend(t *testing.T, c *chain.Server) *slowBackend {
	t.Helper()
	target, _ := url.Parse(c.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	sb := &slowBackend{arrived: make(chan struct{}, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/tools/echo") {
			// Read the body: only then does the server notice the
			// connection closing and cancel r.Context().
			_, _ = io.Copy(io.Discard, r.Body)
			sb.arrived <- struct{}{}
			select {
			case <-r.Context().Done():
				sb.cancelled.Add(1)
			case <-time.After(60 * time.Second):
				http.Error(w, "too slow", http.StatusServiceUnavailable)
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	sb.url = srv.URL
	return sb
}

func (sb *slowBackend) waitArrived(t *testing.T) {
	t.Helper()
	select {
	case <-sb.arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the call never reached the slow backend")
	}
}

// browsersOf lists the pids of fakebrowser processes started for e (found
// by the log path in their environment).
func browsersOf(e *relayEnv) []int {
	browser := testkit.FakeBrowser(e.t)
	return testkit.Procs(func(dir string) bool {
		exe, _ := os.Readlink(filepath.Join(dir, "exe"))
		env, _ := os.ReadFile(filepath.Join(dir, "environ"))
		return exe == browser && bytes.Contains(env, []byte("FAKEBROWSER_LOG="+e.log+"\x00"))
	})
}

// inFlight are the calls a client can leave in flight: one the slow
// backend holds, and one that waits for a sign-in the browser never
// completes.
var inFlight = []struct {
	name string
	slow bool
}{{"a slow backend call", true}, {"a sign-in wait", false}}

// inFlightVars are the relay's settings for a call left in flight: the
// browser ignores the sign-in, and with slow the backend is sb.
func inFlightVars(slow bool, sb *slowBackend) []string {
	extra := []string{"FAKEBROWSER_IGNORE=1", "RELAY_LOGIN_TIMEOUT=120s"}
	if slow {
		extra = append(extra, "RELAY_BACKEND_URL="+sb.url, "RELAY_BACKEND_TIMEOUT=120s")
	}
	return extra
}

// startInFlight initializes the relay on p and calls echo (on the slow
// backend) or whoami (which needs a sign-in), and waits until the call is
// in flight.
func startInFlight(t *testing.T, e *relayEnv, p *testkit.Stdio, slow bool, sb *slowBackend) {
	t.Helper()
	if slow {
		call(t, p, "echo", `{"message":"slow"}`)
	} else {
		call(t, p, "whoami", "{}")
	}
	if r := p.Response(t, 30*time.Second, "1"); r.Error != nil {
		t.Fatalf("initialize: %s", r.Raw)
	}
	if slow {
		sb.waitArrived(t)
		return
	}
	testkit.Poll(t, 30*time.Second, "a browser to open for the sign-in", func() bool { return e.opens() == 1 })
	testkit.Poll(t, 10*time.Second, "the relay to wait for a sign-in", func() bool { return strings.Contains(p.Stderr.String(), "sign-in needed") })
}

// TestFault_ClientDisappearsMidCall: the MCP client goes away while a
// tools/call is in flight (inFlight), by closing stdin or by dying (its
// end of stdout goes too). The relay must exit within a few seconds,
// cancel the backend request, leave no lock held and no browser running.
func TestFault_ClientDisappearsMidCall(t *testing.T) {
	c := chain.Start(t, chain.Options{})
	for _, f := range inFlight {
		for _, killed := range []bool{false, true} {
			t.Run(map[bool]string{false: "stdin closed", true: "client killed"}[killed]+" during "+f.name, func(t *testing.T) {
				e := newRelayEnv(t, c)
				var sb *slowBackend
				if f.slow {
					sb = newSlowBackend(t, c)
				}
				p := e.Start(t, []string{"serve"}, inFlightVars(f.slow, sb)...)
				startInFlight(t, e, p.Stdio, f.slow, sb)
				start := time.Now()
				p.In.Close()
				if killed {
					p.Out.Close()
				}
				if !p.Exited(5 * time.Second) {
					t.Fatalf("the relay did not exit within 5 s after the client went away\n%s", p.Stderr.Tail())
				}
				t.Logf("exited after %v: %v", time.Since(start).Round(time.Millisecond), p.Cmd.ProcessState)
				// A killed client closes stdout too: the relay's writes then
				// fail with EPIPE (SIGPIPE is caught), and it still exits 0.
				if !p.Cmd.ProcessState.Success() {
					t.Errorf("exit after stdin closed: %v\n%s", p.Cmd.ProcessState, p.Stderr.Tail())
				}
				noPanic(t, "serve", p.Stderr.String())
				if f.slow && !testkit.Eventually(5*time.Second, func() bool { return sb.cancelled.Load() == 1 }) {
					t.Error("the backend request was not cancelled")
				}
				if !testkit.Eventually(10*time.Second, func() bool { return len(browsersOf(e)) == 0 }) {
					t.Errorf("browser processes left running: %v", browsersOf(e))
				}
				// No lock is left held: the vault answers at once.
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if _, err := e.vault().Accounts(ctx); err != nil {
					t.Errorf("vault after the relay exited: %v", err)
				}
			})
		}
	}
}

// inProcess runs the relay's `serve` command in this process on io.Pipes.
type inProcess struct {
	*testkit.Stdio
	out  *io.PipeReader
	code chan int
}

func (e *relayEnv) serveInProcess(t *testing.T, extra ...string) *inProcess {
	t.Helper()
	vars := maps.Clone(e.Vars)
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	for k, v := range vars { // the browser command and its child read the process env
		if k != "PATH" && k != "HOME" {
			t.Setenv(k, v)
		}
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ip := &inProcess{Stdio: testkit.NewStdio(inW, outR, &testkit.Buffer{}), out: outR, code: make(chan int, 1)}
	go func() {
		code := run(context.Background(), []string{"serve"}, env{func(k string) string { return vars[k] }}, inR, outW, ip.Stderr)
		outW.Close()
		inR.Close()
		ip.code <- code
	}()
	return ip
}

// end closes stdin (the client went away): run must return 0 within 5 s,
// with no panic, and the goroutines settle back to base.
func (ip *inProcess) end(t *testing.T, base int) {
	t.Helper()
	ip.In.Close()
	select {
	case code := <-ip.code:
		ip.out.Close()
		if code != 0 {
			t.Fatalf("exit code %d\n%s", code, ip.Stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("serve did not return within 5 s after stdin closed\n%s", ip.Stderr.Tail())
	}
	noPanic(t, "serve", ip.Stderr.String())
	testkit.SettleGoroutines(t, base, 0)
}

// TestFault_NoGoroutineLeak runs the relay's serve command in this process
// on io.Pipes: a malformed stream, and a client gone during each call of
// inFlight; after each, the goroutine count must return to its baseline.
func TestFault_NoGoroutineLeak(t *testing.T) {
	c, e := backendEnv(t)
	sb := newSlowBackend(t, c)
	testkit.Relay(t) // before any baseline
	// baseline is the goroutine count before a run, taken on the subtest's
	// own goroutine; after the run, the count must be back to it exactly.
	baseline := func() int {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		return runtime.NumGoroutine()
	}
	t.Run("malformed stream", func(t *testing.T) {
		base := baseline()
		ip := e.serveInProcess(t)
		for _, l := range []string{"not json", `{"jsonrpc":"1.0","id":1,"method":"ping"}`, `{"jsonrpc":"2.0","id":2,"method":"nope"}`,
			`{"jsonrpc":"2.0","id":3,"method":7}`, "\x00\xff\xfe garbage \x01"} {
			ip.Send(t, l)
		}
		ip.Send(t, fmt.Sprintf(initializeLine, 4))
		ip.Send(t, `{"jsonrpc":"2.0","id":5,"method":"tools/list"}`)
		if m := ip.Response(t, 30*time.Second, "5"); m.Error != nil || !strings.Contains(m.Raw, "whoami") {
			t.Fatalf("tools/list: %s", m.Raw)
		}
		ip.end(t, base)
	})
	for _, f := range inFlight {
		t.Run("client gone during "+f.name, func(t *testing.T) {
			base := baseline()
			ip := e.serveInProcess(t, inFlightVars(f.slow, sb)...)
			startInFlight(t, e, ip.Stdio, f.slow, sb)
			ip.end(t, base)
		})
	}
}

// Fault injection through a relay process: the authorization server or the
// backend failing (down, slow, 5xx, garbage, huge answers), the OS keychain
// locked or hanging (a private gnome-keyring on a private D-Bus), and the
// data directory full or read-only (real tmpfs mounts; needs root).

// Fault modes of a failingFront.
const (
	modeNone    = ""
	mode500     = "500"
	modeHang    = "hang"    // never answers until the client gives up
	modeGarbage = "garbage" // 200 with a body that is not JSON
	modeHuge    = "huge"    // 200 with hugeBody bytes
	modeDown    = "down"    // the whole chain refuses connections
)

// hugeBody is the size of a modeHuge answer: far over the relay's cap.
const hugeBody = 64 << 20

// failingFront sits in front of a chain (chain.Options.Wrap) and makes its
// token endpoint or its tool calls fail, one mode at a time.
type failingFront struct {
	c       *chain.Server
	down    bool // set took the chain down
	next    http.Handler
	token   atomic.Value // fault mode of POST /token
	tools   atomic.Value // fault mode of POST /mcp/tools/...
	tokenN  atomic.Int64 // /token requests that reached the front
	hugeOut atomic.Int64 // bytes of the last huge answer the relay accepted
	release chan struct{}
}

// newFailingChain starts a chain behind a failingFront. Chain.Down and Up
// refuse connections, then take them again.
func newFailingChain(t *testing.T) (*chain.Server, *failingFront) {
	t.Helper()
	f := &failingFront{release: make(chan struct{})}
	f.token.Store(modeNone)
	f.tools.Store(modeNone)
	f.c = chain.Start(t, chain.Options{Wrap: func(h http.Handler) http.Handler { f.next = h; return f }})
	t.Cleanup(func() { close(f.release) }) // before the chain stops
	return f.c, f
}

// set puts what (f.token or f.tools) in mode; modeDown takes the whole
// chain down instead, and the next mode brings it back.
func (f *failingFront) set(t *testing.T, what *atomic.Value, mode string) {
	t.Helper()
	if mode == modeDown {
		f.c.Down()
	} else if f.down {
		f.c.Up(t)
	}
	f.down = mode == modeDown
	what.Store(mode)
}

func (f *failingFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mode := modeNone
	switch {
	case r.URL.Path == "/token":
		f.tokenN.Add(1)
		mode = f.token.Load().(string)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/mcp/tools/"):
		mode = f.tools.Load().(string)
	}
	switch mode {
	case mode500:
		// An HTML error page echoing the bearer token: neither may reach
		// the person.
		http.Error(w, "<html>internal error "+r.Header.Get("Authorization")+"</html>", http.StatusInternalServerError)
	case modeHang:
		select {
		case <-f.release:
		case <-r.Context().Done():
		}
	case modeGarbage:
		_, _ = w.Write([]byte(`{"content": [not json`))
	case modeHuge:
		f.writeHuge(w)
	default:
		f.next.ServeHTTP(w, r)
	}
}

// writeHuge streams a JSON-looking answer of hugeBody bytes and records
// how much of it the client accepted before it hung up.
func (f *failingFront) writeHuge(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	n, _ := w.Write([]byte(`{"content":[{"type":"text","text":"`))
	total := int64(n)
	for total < hugeBody {
		n, err := w.Write(chunk)
		total += int64(n)
		if err != nil {
			break
		}
	}
	f.hugeOut.Store(total)
}

// tokensFile returns the bytes of tokens.age.
func (e *relayEnv) tokensFile() []byte {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.Dir, "tokens.age"))
	testkit.NoErr(e.t, err)
	return b
}

// TestFault_AuthServerDuringRefresh: the authorization server answers 500,
// is down (connection refused, or closed under the request) or hangs past the relay's token request
// timeout (RELAY_AUTH_TIMEOUT, 2 s here) while the relay refreshes an expired
// token mid-session. The call fails with a clear error and no token in it,
// the stored tokens are kept as they were, no browser opens, and once the
// server is back the next call refreshes and works.
func TestFault_AuthServerDuringRefresh(t *testing.T) {
	cases := []struct {
		mode, want string
		max        time.Duration // how long the failed call may take
	}{
		{mode500, "HTTP 500", 15 * time.Second},
		{modeDown, "the authorization server is unreachable", 15 * time.Second},
		{modeHang, "the authorization server did not answer in time", 15 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			c, f := newFailingChain(t)
			e := newRelayEnv(t, c)
			e.Vars["RELAY_AUTH_TIMEOUT"] = "2s"
			s := e.start()
			s.whoami(t)
			e.expireStored()
			before, file, opens, hits := e.stored(t), e.tokensFile(), e.opens(), f.tokenN.Load()
			f.set(t, &f.token, tc.mode)
			start := time.Now()
			text := s.fails(t, "whoami", "refresh failed", "kept", tc.want)
			took := time.Since(start)
			if c.Leaks(text) || strings.Contains(text, "<html>") {
				t.Fatalf("the error leaks a token or the server's page: %q", text)
			}
			t.Logf("%s: %q after %v", tc.mode, text, took)
			if took > tc.max {
				t.Fatalf("the failed refresh took %v, want under %v", took, tc.max)
			}
			if tc.mode != modeDown && f.tokenN.Load() == hits {
				t.Fatal("no refresh reached the authorization server; the test proves nothing")
			}
			if e.opens() != opens {
				t.Fatalf("a browser opened on a transient refresh failure (%d opens, had %d)", e.opens(), opens)
			}
			if !bytes.Equal(e.tokensFile(), file) {
				t.Fatal("tokens.age changed on a failed refresh")
			}
			if after := e.stored(t); after == nil || !after.RefreshToken.Equal(before.RefreshToken) {
				t.Fatal("stored refresh token lost or changed")
			}

			f.set(t, &f.token, modeNone)
			refreshes := c.Refreshes.Load()
			s.whoami(t)
			if c.Refreshes.Load() != refreshes+1 || e.opens() != opens {
				t.Fatalf("after recovery: %d refreshes (want %d), %d opens (want %d)", c.Refreshes.Load(), refreshes+1, e.opens(), opens)
			}
			if r := e.stored(t); r == nil || !r.Expiry.After(time.Now()) {
				t.Fatal("after recovery the vault holds no fresh token")
			}
		})
	}
}

// TestFault_BackendFailuresInOneSession: one relay session meets every
// backend failure in turn, each followed by a good call: a 500 echoing the
// token in an HTML page, a hang past RELAY_BACKEND_TIMEOUT, a refused
// connection, garbage JSON and a 64 MiB answer (read no further than the
// cap). Each is a tool error with a clear text and no token; the relay
// keeps serving and never opens a browser for it.
func TestFault_BackendFailuresInOneSession(t *testing.T) {
	c, f := newFailingChain(t)
	e := newRelayEnv(t, c)
	s := e.start("RELAY_BACKEND_TIMEOUT=1s")
	s.whoami(t)
	opens := e.opens()
	cases := []struct {
		mode, want string
	}{
		{mode500, "the backend answered 500"},
		{modeHang, "the backend did not answer in time"},
		{modeDown, "the backend is unreachable"},
		{modeGarbage, "the backend's response is not valid JSON"},
		{modeHuge, "the backend's response is over"},
	}
	for _, tc := range cases {
		f.set(t, &f.tools, tc.mode)
		start := time.Now()
		text := s.fails(t, "whoami", tc.want)
		took := time.Since(start)
		f.set(t, &f.tools, modeNone)
		if c.Leaks(text) || strings.Contains(text, "<html>") || len(text) > 300 {
			t.Fatalf("%s: the error leaks the token or the answer: %.300q", tc.mode, text)
		}
		t.Logf("%s: %q after %v", tc.mode, text, took)
		if took > 20*time.Second {
			t.Fatalf("%s: the failed call took %v", tc.mode, took)
		}
		if tc.mode == modeHuge {
			// The fake backend notices the hang-up after the relay answered.
			testkit.Poll(t, 10*time.Second, "the huge answer to end", func() bool { return f.hugeOut.Load() != 0 })
			if n := f.hugeOut.Load(); n >= hugeBody {
				t.Fatalf("the relay accepted %d bytes of a %d-byte answer; want it to stop at its cap", n, hugeBody)
			}
		}
		s.whoami(t)
	}
	if e.opens() != opens || c.Refreshes.Load() != 0 {
		t.Fatalf("backend failures caused %d browser opens and %d refreshes", e.opens()-opens, c.Refreshes.Load())
	}
}

// useKeychain points e at ss with the default key source (the keychain)
// and a passphrase file configured, the one fallback the vault has: it
// must never be taken for a locked or silent keychain.
func (e *relayEnv) useKeychain(ss *testkit.SecretService) {
	delete(e.Vars, "RELAY_VAULT_KEY")
	pass := filepath.Join(e.Home, "passphrase")
	if err := os.WriteFile(pass, []byte("fake passphrase for a fallback\n"), 0o600); err != nil {
		e.t.Fatal(err)
	}
	e.Vars["RELAY_VAULT_PASSPHRASE_FILE"] = pass
	e.Vars["DBUS_SESSION_BUS_ADDRESS"] = ss.Addr
}

// dataFiles maps each file of the data directory to its content, but
// for faultfs's filler.
func (e *relayEnv) dataFiles() map[string]string {
	e.t.Helper()
	ents, err := os.ReadDir(e.Dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, ent := range ents {
		if ent.Name() == faultfs.FillerName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(e.Dir, ent.Name()))
		testkit.NoErr(e.t, err)
		out[ent.Name()] = string(b)
	}
	return out
}

// sameDataFiles fails unless the data directory holds files still.
func (e *relayEnv) sameDataFiles(t *testing.T, what string, files map[string]string) {
	t.Helper()
	if now := e.dataFiles(); !maps.Equal(now, files) {
		t.Fatalf("%s: the data directory changed from %v to %v", what, slices.Sorted(maps.Keys(files)), slices.Sorted(maps.Keys(now)))
	}
}

// TestFault_KeychainLockedOrSilent, through relay processes and a real
// gnome-keyring: a vault whose key is in the keychain, then the keychain
// locked, then frozen (a D-Bus name that never answers). A new relay's
// tool call fails within the keychain timeout (3 s) with a clear error;
// nothing is written to the data directory (no key.age, no passphrase
// vault), no browser opens. A first login against the locked keychain
// fails the same way and creates no vault at all, although a passphrase
// file is configured.
func TestFault_KeychainLockedOrSilent(t *testing.T) {
	ss := testkit.StartSecretService(t)
	c, e := backendEnv(t)
	e.useKeychain(ss)
	e.mustCLI(t, "login") // with an unlocked keychain
	files := e.dataFiles()
	if _, ok := files["tokens.age"]; !ok || files["key.age"] != "" || files["vault.json"] == "" {
		t.Fatalf("the keychain vault holds %v", slices.Sorted(maps.Keys(files)))
	}
	opens := e.opens()

	check := func(what, want string) {
		t.Helper()
		s := e.start()
		start := time.Now()
		text := s.fails(t, "whoami", "keychain", want)
		if took := time.Since(start); took > 8*time.Second {
			t.Fatalf("%s: the call took %v; the keychain timeout is 3 s", what, took)
		}
		t.Logf("%s: %q", what, text)
		if c.Leaks(text) {
			t.Fatalf("%s: the error leaks a token: %q", what, text)
		}
		e.sameDataFiles(t, what, files)
		if e.opens() != opens {
			t.Fatalf("%s: a browser opened", what)
		}
	}
	ss.Lock(t)
	check("locked", "unlock refused")

	// A first login on the locked keychain: no vault, no fallback.
	e2 := newRelayEnv(t, c)
	e2.useKeychain(ss)
	start := time.Now()
	if stderr := e2.Says(t, testkit.Failed, "login", "relay: error: ", "locked"); time.Since(start) > 8*time.Second {
		t.Fatalf("first login on a locked keychain took %v\n%s", time.Since(start), stderr)
	}
	if got := slices.Sorted(maps.Keys(e2.dataFiles())); len(got) > 1 || (len(got) == 1 && got[0] != "vault.lock") {
		t.Fatalf("a failed first login left %v", got)
	}
	if e2.opens() != 0 {
		t.Fatal("a browser opened for tokens that could not be stored")
	}

	ss.Freeze(t)
	check("silent", "no answer within")
}

// decrypts reports whether tokens.age decrypts, with the key file and
// without the vault's lock (which a read-only directory refuses), to a
// plaintext holding want.
func (e *relayEnv) decrypts(want string) bool {
	e.t.Helper()
	kb, err := os.ReadFile(e.KeyFile)
	testkit.NoErr(e.t, err)
	id, err := age.ParseX25519Identity(strings.TrimSpace(string(kb)))
	testkit.NoErr(e.t, err)
	r, err := age.Decrypt(bytes.NewReader(e.tokensFile()), id)
	if err != nil {
		return false
	}
	plain, err := io.ReadAll(r)
	return err == nil && bytes.Contains(plain, []byte(want))
}

// errorLine returns the one "relay: error:" line of stderr.
func errorLine(t *testing.T, stderr string) string {
	t.Helper()
	return lineOf(t, stderr, "relay: error: ")
}

// lineOf returns the one line of stderr that starts with prefix.
func lineOf(t *testing.T, stderr, prefix string) string {
	t.Helper()
	var found []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, prefix) {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %q line, got %d in\n%s", prefix, len(found), stderr)
	}
	return found[0]
}

// TestFault_DataDirReadOnlyThenFull: `relay login` must refresh an expired
// token, first with the data directory mounted read-only, then with it
// full. Each fails with a one-line error naming the cause, tokens.age and
// vault.json stay byte-identical and decryptable with the old refresh
// token, no temporary file is left and no browser opens. With space again,
// `relay login` works.
func TestFault_DataDirReadOnlyThenFull(t *testing.T) {
	c, e := backendEnv(t)
	faultfs.MountTmpfs(t, e.Dir)
	e.Vars["RELAY_LOG_LEVEL"] = "error"
	e.mustCLI(t, "login")
	e.expireStored()
	before, files := e.stored(t), e.dataFiles()
	check := func(what, want string) {
		t.Helper()
		stderr := e.Says(t, testkit.Failed, "login")
		line := errorLine(t, stderr)
		if !strings.Contains(line, want) || c.Leaks(stderr) {
			t.Fatalf("%s: error line %q; want it to say %q, without a token", what, line, want)
		}
		t.Logf("%s: %s", what, line)
		e.sameDataFiles(t, what, files)
		if !e.decrypts(before.RefreshToken.Reveal()) {
			t.Fatalf("%s: tokens.age no longer decrypts to the old refresh token", what)
		}
		e.wantOpens(t, 1, what)
	}

	faultfs.Remount(t, e.Dir, "ro")
	check("read-only", "read-only file system")
	faultfs.Remount(t, e.Dir, "rw")
	if r := e.stored(t); r == nil || !r.RefreshToken.Equal(before.RefreshToken) {
		t.Fatal("read-write again: the old vault is not readable with its refresh token")
	}

	refreshes := c.Refreshes.Load()
	unfill := faultfs.Fill(t, e.Dir)
	check("full", "no space left on device")
	unfill()
	if r := e.stored(t); r == nil || !r.RefreshToken.Equal(before.RefreshToken) {
		t.Fatal("after the disk-full refresh: the old vault is not readable with its refresh token")
	}
	// The vault is probed before the refresh: a refresh that rotated the
	// refresh token at the server and could not store the new one would
	// cost the sign-in (the old one is then a reused token).
	if n := c.Refreshes.Load() - refreshes; n != 0 {
		t.Fatalf("%d refreshes reached the server on a full disk, want 0", n)
	}
	e.mustCLI(t, "login") // with space again
	if n := c.Refreshes.Load() - refreshes; n != 1 || e.opens() != 1 {
		t.Fatalf("with space again: %d refreshes (want 1), %d browser opens (want 1, the first login)", n, e.opens())
	}
}
