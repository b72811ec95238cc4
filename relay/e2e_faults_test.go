package main

// Fault-injection tests: processes killed at random points, many relays
// refreshing one expired token at once, a malformed stdio stream, and a
// client that disappears in the middle of a call.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/keyrelay/keyrelay/platform"
	"github.com/keyrelay/keyrelay/relay/front"
	"github.com/keyrelay/keyrelay/vault"
)

// proc is a relay process on raw pipes: the test writes JSON-RPC lines to
// its stdin and reads its stdout line by line.
type proc struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	outR   *os.File
	stderr *lockedBuffer
	lines  chan string // stdout lines; closed at EOF
	exited chan struct{}
}

// spawn starts the relay with args on raw pipes.
func (e *relayEnv) spawn(args []string, extra ...string) *proc {
	e.t.Helper()
	relay, _ := buildBins(e.t)
	cmd := exec.Command(relay, args...)
	cmd.Env = e.environ(extra...)
	p := &proc{cmd: cmd, stderr: &lockedBuffer{}, lines: make(chan string, 4096), exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	cmd.WaitDelay = 2 * time.Second // a leftover child holding stderr must not stall Wait
	in, err := cmd.StdinPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		e.t.Fatal(err)
	}
	cmd.Stdout = outW
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	outW.Close()
	p.in, p.outR = in, outR
	go func() {
		defer close(p.lines)
		r := bufio.NewReaderSize(outR, 1<<16)
		for {
			l, err := r.ReadString('\n')
			if l = strings.TrimSpace(l); l != "" {
				p.lines <- l
			}
			if err != nil {
				return
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(p.exited) }()
	e.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		outR.Close()
	})
	return p
}

// send writes one line to the relay's stdin.
func (p *proc) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(p.in, line+"\n"); err != nil {
		t.Fatalf("write to relay stdin: %v\n%s", err, p.stderr.String())
	}
}

// waitExit reports whether the process exited within d.
func (p *proc) waitExit(d time.Duration) bool {
	select {
	case <-p.exited:
		return true
	case <-time.After(d):
		return false
	}
}

// killAfter SIGKILLs the process after delay unless it exited first, and
// reports whether the kill landed while it ran.
func (p *proc) killAfter(t *testing.T, delay time.Duration) bool {
	t.Helper()
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-p.exited:
		return false
	case <-timer.C:
	}
	_ = p.cmd.Process.Kill() // SIGKILL
	if !p.waitExit(10 * time.Second) {
		t.Fatal("a SIGKILLed relay did not exit")
	}
	return true
}

// rpcMsg is one JSON-RPC message from the relay.
type rpcMsg struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	raw string
}

// next returns the next message that is not a notification, within d.
func (p *proc) next(t *testing.T, d time.Duration) (rpcMsg, bool) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return rpcMsg{}, false
			}
			var m rpcMsg
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("the relay wrote a non-JSON line to stdout: %.200q", l)
			}
			m.raw = l
			if m.Method != "" && len(m.ID) == 0 {
				continue // a notification
			}
			return m, true
		case <-deadline:
			return rpcMsg{}, false
		}
	}
}

// responses collects messages until every id in want has been answered.
func (p *proc) responses(t *testing.T, d time.Duration, want ...string) map[string]rpcMsg {
	t.Helper()
	got := map[string]rpcMsg{}
	end := time.Now().Add(d)
	for missing(got, want) != "" {
		m, ok := p.next(t, time.Until(end))
		if !ok {
			t.Fatalf("no response for id %s within %v\nstderr:\n%s", missing(got, want), d, tail(p.stderr.String()))
		}
		got[string(m.ID)] = m
	}
	return got
}

func missing(got map[string]rpcMsg, want []string) string {
	for _, w := range want {
		if _, ok := got[w]; !ok {
			return w
		}
	}
	return ""
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

const (
	initializeLine  = `{"jsonrpc":"2.0","id":%d,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"faults","version":"1"}}}`
	initializedLine = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
	callLine        = `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s}}`
)

// startServe runs `relay serve` on raw pipes and initializes it.
func (e *relayEnv) startServe(t *testing.T, extra ...string) *proc {
	t.Helper()
	p := e.spawn([]string{"serve"}, extra...)
	p.send(t, fmt.Sprintf(initializeLine, 1))
	if r := p.responses(t, 20*time.Second, "1")["1"]; r.Error != nil {
		t.Fatalf("initialize: %s", r.raw)
	}
	p.send(t, initializedLine)
	return p
}

// noPanic fails if stderr shows a Go panic or goroutine dump.
func noPanic(t *testing.T, who, stderr string) {
	t.Helper()
	if strings.Contains(stderr, "panic:") || strings.Contains(stderr, "goroutine ") {
		t.Errorf("%s: panic or goroutine dump in stderr:\n%s", who, tail(stderr))
	}
}

// runCLIWithin runs a relay command and fails if it does not end within d
// (a vault lock left held would hang it).
func (e *relayEnv) runCLIWithin(t *testing.T, d time.Duration, args ...string) (string, string, int) {
	t.Helper()
	p := e.spawn(args)
	p.in.Close()
	if !p.waitExit(d) {
		t.Fatalf("relay %s did not finish within %v (a vault lock left held?)\n%s", strings.Join(args, " "), d, tail(p.stderr.String()))
	}
	var out strings.Builder
	for l := range p.lines {
		out.WriteString(l + "\n")
	}
	return out.String(), p.stderr.String(), p.cmd.ProcessState.ExitCode()
}

func (e *relayEnv) mustCLI(t *testing.T, args ...string) time.Duration {
	t.Helper()
	start := time.Now()
	_, stderr, code := e.runCLIWithin(t, 60*time.Second, args...)
	if code != 0 {
		t.Fatalf("relay %s: exit %d\n%s", strings.Join(args, " "), code, tail(stderr))
	}
	return time.Since(start)
}

// stored reads the relay's record from the test process, with a deadline:
// a lock left held by a killed process would make it time out. A vault
// that cannot be read (a corrupt or torn file) fails the test.
func (e *relayEnv) stored(t *testing.T) *vault.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := e.vault().Get(ctx, e.account())
	switch {
	case errors.Is(err, vault.ErrNotFound):
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		t.Fatalf("the vault lock is still held: %v", err)
	case err != nil:
		t.Fatalf("the vault cannot be read (torn or corrupt): %v", err)
	}
	return &r
}

// vaultFiles checks the data directory: only the vault's own files and the
// temporary files of interrupted atomic writes (which reads ignore and
// logout removes) may be there; nothing may have been moved aside as
// corrupt. It returns the number of temporary files.
func (e *relayEnv) vaultFiles(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir(e.dir)
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
	p := e.startServe(t)
	p.send(t, fmt.Sprintf(callLine, 2, "whoami", "{}"))
	r := p.responses(t, 45*time.Second, "2")["2"]
	if r.Error != nil || !strings.Contains(r.raw, `\"subject\": \"alice\"`) || strings.Contains(r.raw, `"isError":true`) {
		t.Fatalf("the next run's whoami failed: %s\n%s", r.raw, tail(p.stderr.String()))
	}
	p.in.Close()
	if !p.waitExit(10 * time.Second) {
		t.Fatal("relay serve did not exit after stdin closed")
	}
	noPanic(t, "serve", p.stderr.String())
	out, stderr, code := e.runCLIWithin(t, 20*time.Second, "status")
	if code != 0 || !strings.Contains(out, "logged in as alice") || strings.Contains(out, "problem:") {
		t.Fatalf("status after the kill: exit %d\n%s%s", code, out, stderr)
	}
}

// faultSeed is the random seed, from FAULT_SEED to reproduce a run.
func faultSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FAULT_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("FAULT_SEED: %v", err)
		}
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
	rng := rand.New(rand.NewPCG(faultSeed(t), 0x6b6579))
	c := newChain(t, 0)
	e := newRelayEnv(t, c)

	// How long each operation takes here, uninterrupted: the kills land
	// at random points within 1.25 times that.
	dur := map[string]time.Duration{}
	dur["login"] = e.mustCLI(t, "login")
	e.expireStored()
	dur["refresh-cli"] = e.mustCLI(t, "login")
	if c.refresh.Load() != 1 {
		t.Fatalf("`relay login` with an expired token made %d refreshes, want 1", c.refresh.Load())
	}
	e.expireStored()
	start := time.Now()
	e.refreshByServe(t).in.Close()
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
		var p *proc
		switch kind {
		case "login":
			p = e.spawn([]string{"login"})
		case "refresh-cli":
			p = e.spawn([]string{"login"})
		case "logout":
			p = e.spawn([]string{"logout"})
		case "refresh-serve":
			p = e.spawn([]string{"serve"})
			p.send(t, fmt.Sprintf(initializeLine, 1))
			p.send(t, initializedLine)
			p.send(t, fmt.Sprintf(callLine, 2, "whoami", "{}"))
		}
		k := p.killAfter(t, delay)
		if k {
			killed++
		}
		noPanic(t, kind, p.stderr.String())
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

// refreshByServe runs `relay serve`, calls whoami, and returns the process
// once the call has been answered.
func (e *relayEnv) refreshByServe(t *testing.T) *proc {
	t.Helper()
	p := e.spawn([]string{"serve"})
	p.send(t, fmt.Sprintf(initializeLine, 1))
	p.send(t, initializedLine)
	p.send(t, fmt.Sprintf(callLine, 2, "whoami", "{}"))
	if r := p.responses(t, 45*time.Second, "1", "2")["2"]; !strings.Contains(r.raw, "alice") {
		t.Fatalf("whoami: %s", r.raw)
	}
	return p
}

// checkOldOrNew fails unless after is the state before the operation or
// a complete state after it, and reports which.
func checkOldOrNew(t *testing.T, kind string, before, after *vault.Record) bool {
	t.Helper()
	complete := func(r *vault.Record) bool {
		return r.Subject == testUser && !r.AccessToken.IsZero() && !r.RefreshToken.IsZero() && r.Expiry.After(time.Now())
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

// callTool calls a tool on a session, with a deadline, without t.Fatal (it
// runs on other goroutines).
func callTool(s *session, name string, d time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	res, err := s.c.CallTool(ctx, req)
	if err != nil {
		return "", err
	}
	var text strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			text.WriteString(tc.Text)
		}
	}
	if res.IsError {
		return "", fmt.Errorf("isError: %s", text.String())
	}
	return text.String(), nil
}

// TestFault_NProcessesMCallsExpiredToken: N relay processes on one vault
// make M concurrent calls each with an expired token. For each of two
// successive expiries exactly one refresh reaches the authorization
// server, every call succeeds, no relay sees invalid_grant, and no new
// sign-in happens (a reused refresh token would revoke the family and
// force one).
func TestFault_NProcessesMCallsExpiredToken(t *testing.T) {
	const N, M = 4, 8
	c := newChain(t, 0)
	e := newRelayEnv(t, c)
	e.mustCLI(t, "login")
	codes, opens := c.codes.Load(), e.opens()
	for round := 1; round <= 2; round++ {
		sessions := make([]*session, N)
		for i := range sessions {
			sessions[i] = e.start()
		}
		old := e.stored(t)
		e.expireStored()
		r0 := c.refresh.Load()
		gate := make(chan struct{})
		var wg sync.WaitGroup
		var failed atomic.Int64
		for i, s := range sessions {
			for j := range M {
				wg.Go(func() {
					<-gate
					out, err := callTool(s, "whoami", 90*time.Second)
					if err != nil || !strings.Contains(out, `"subject": "alice"`) {
						failed.Add(1)
						t.Errorf("round %d relay %d call %d: %v %.200s", round, i, j, err, out)
					}
				})
			}
		}
		close(gate)
		wg.Wait()
		if n := c.refresh.Load() - r0; n != 1 {
			t.Errorf("round %d: %d refresh requests reached the server for %d calls in %d processes, want 1", round, n, N*M, N)
		}
		for i, s := range sessions {
			log := s.stderr.String()
			if strings.Contains(log, "invalid_grant") || strings.Contains(log, "no longer valid") {
				t.Errorf("round %d relay %d saw a dead refresh token:\n%s", round, i, tail(log))
			}
			noPanic(t, fmt.Sprintf("relay %d", i), log)
			_ = s.c.Close()
		}
		if now := e.stored(t); now.AccessToken.Equal(old.AccessToken) || !now.Expiry.After(time.Now()) {
			t.Errorf("round %d: the vault does not hold the refreshed token", round)
		}
		t.Logf("round %d: %d calls in %d processes, %d failed, %d refresh", round, N*M, N, failed.Load(), c.refresh.Load()-r0)
		if t.Failed() {
			t.FailNow()
		}
	}
	// The last refresh token is alive (not revoked as reused): one more
	// expiry is refreshed, and calls work, with no new sign-in.
	e.expireStored()
	r0 := c.refresh.Load()
	if out, err := callTool(e.start(), "whoami", 60*time.Second); err != nil || !strings.Contains(out, "alice") {
		t.Fatalf("call after the rounds: %v %s", err, out)
	}
	if c.refresh.Load()-r0 != 1 || c.codes.Load() != codes || e.opens() != opens {
		t.Fatalf("after the rounds: %d refreshes (want 1), %d→%d code exchanges, %d→%d browser opens (want unchanged)",
			c.refresh.Load()-r0, codes, c.codes.Load(), opens, e.opens())
	}
}

// vmHWM is the peak resident set size of pid in KiB, from /proc.
func vmHWM(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return -1
}

// TestFault_MalformedStdio sends the relay binary a malformed stream on raw
// pipes and checks that each bad message gets a JSON-RPC error, that a
// valid session still works after it, and that the relay exits cleanly
// when stdin ends: no panic, no hang.
func TestFault_MalformedStdio(t *testing.T) {
	c := newChain(t, 0)
	e := newRelayEnv(t, c)
	p := e.spawn([]string{"serve"})
	pid := p.cmd.Process.Pid

	cases := []struct {
		name  string
		line  string
		codes []int // acceptable error codes
	}{
		{"invalid JSON", `{"jsonrpc":"2.0","id":1,"method":`, []int{-32700}},
		{"wrong jsonrpc version", `{"jsonrpc":"1.0","id":2,"method":"ping"}`, []int{-32600}},
		{"absent jsonrpc version", `{"id":3,"method":"ping"}`, []int{-32600}},
		{"method not a string", `{"jsonrpc":"2.0","id":4,"method":42}`, []int{-32600, -32700}},
		{"unknown method", `{"jsonrpc":"2.0","id":5,"method":"no/such/method"}`, []int{-32601}},
		{"a JSON array", `[1,2,3]`, []int{-32600, -32700}},
	}
	for _, tc := range cases {
		p.send(t, tc.line)
		m, ok := p.next(t, 15*time.Second)
		if !ok {
			t.Fatalf("%s: no response\n%s", tc.name, tail(p.stderr.String()))
		}
		if m.Error == nil || !contains(tc.codes, m.Error.Code) {
			t.Errorf("%s: got %s, want an error with code in %v", tc.name, m.raw, tc.codes)
			continue
		}
		t.Logf("%-22s → %d %q id=%s", tc.name, m.Error.Code, m.Error.Message, m.ID)
	}
	base := vmHWM(pid)

	// A huge line under the limit: 8 MiB without a newline, then the newline.
	const huge = 8 << 20
	wrote := make(chan error, 1)
	go func() {
		chunk := bytes.Repeat([]byte("x"), 1<<20)
		for range huge / len(chunk) {
			if _, err := p.in.Write(chunk); err != nil {
				wrote <- err
				return
			}
		}
		_, err := io.WriteString(p.in, "\n")
		wrote <- err
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatalf("writing the huge line: %v (relay exited? %s)", err, tail(p.stderr.String()))
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the relay stopped reading a huge line")
	}
	m, ok := p.next(t, 30*time.Second)
	if !ok || m.Error == nil || m.Error.Code != -32700 {
		t.Fatalf("huge line: got %q (ok=%v), want a parse error\n%s", m.raw, ok, tail(p.stderr.String()))
	}
	peak := vmHWM(pid)
	t.Logf("huge line (%d MiB): parse error; VmHWM %d KiB before, %d KiB after (+%d MiB)", huge>>20, base, peak, (peak-base)>>10)
	// Reading a line of L bytes costs a few copies of L; more than 16
	// copies would mean something holds or multiplies the input.
	if base > 0 && peak-base > 16*(huge>>10) {
		t.Errorf("memory grew by %d MiB for a %d MiB line", (peak-base)>>10, huge>>20)
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
	p.send(t, string(garbage))
	if m, ok := p.next(t, 15*time.Second); !ok || m.Error == nil || m.Error.Code != -32700 {
		t.Fatalf("binary garbage: got %q (ok=%v), want a parse error", m.raw, ok)
	}

	// A valid session still works.
	p.send(t, fmt.Sprintf(initializeLine, 10))
	p.send(t, initializedLine)
	p.send(t, `{"jsonrpc":"2.0","id":11,"method":"tools/list"}`)
	p.send(t, fmt.Sprintf(callLine, 12, "echo", `{"message":"still here"}`))
	got := p.responses(t, 30*time.Second, "10", "11", "12")
	if got["10"].Error != nil || !strings.Contains(got["10"].raw, `"serverInfo"`) {
		t.Errorf("initialize after garbage: %s", got["10"].raw)
	}
	if got["11"].Error != nil || !strings.Contains(got["11"].raw, `"name":"whoami"`) {
		t.Errorf("tools/list after garbage: %.300s", got["11"].raw)
	}
	if !strings.Contains(got["12"].raw, "still here") {
		t.Errorf("echo after garbage: %s", got["12"].raw)
	}

	p.in.Close()
	if !p.waitExit(10 * time.Second) {
		t.Fatal("the relay did not exit within 10 s after stdin closed")
	}
	st := p.cmd.ProcessState
	t.Logf("exit after stdin closed: %v", st)
	if !st.Success() {
		t.Errorf("exit after stdin closed: %v\n%s", st, tail(p.stderr.String()))
	}
	noPanic(t, "serve", p.stderr.String())
}

// TestFault_OverlongLineEndsCleanly: a line longer than front.MaxMessage
// (an endless line from a broken client) ends the relay with a one-line
// error once the limit is passed, instead of growing its memory with the line.
func TestFault_OverlongLineEndsCleanly(t *testing.T) {
	c := newChain(t, 0)
	e := newRelayEnv(t, c)
	p := e.spawn([]string{"serve"})
	p.send(t, fmt.Sprintf(initializeLine, 1))
	if _, ok := p.next(t, 15*time.Second); !ok {
		t.Fatalf("no initialize answer\n%s", tail(p.stderr.String()))
	}
	wrote := make(chan int64, 1)
	go func() { // up to 4× the limit, never a newline
		n, _ := io.Copy(p.in, io.LimitReader(repeatReader('x'), 4*front.MaxMessage))
		wrote <- n
	}()
	if !p.waitExit(60 * time.Second) {
		t.Fatal("the relay kept reading an endless line")
	}
	p.in.Close()
	n := <-wrote
	st := p.cmd.ProcessState
	if st.Success() || !strings.Contains(p.stderr.String(), "relay: error: serve: a message on stdin is over 16 MiB") {
		t.Fatalf("exit %v\n%s", st, tail(p.stderr.String()))
	}
	if n >= 4*front.MaxMessage {
		t.Fatalf("the relay read all %d MiB", n>>20)
	}
	noPanic(t, "serve", p.stderr.String())
	t.Logf("endless line: %v after %d MiB written", st, n>>20)
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func contains(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// slowBackend is a proxy in front of the chain's backend that holds every
// call of the echo tool until the caller gives up; it records that the
// relay cancelled the request.
type slowBackend struct {
	url       string
	arrived   chan struct{}
	cancelled atomic.Int64
}

func newSlowBackend(t *testing.T, c *chain) *slowBackend {
	t.Helper()
	target, _ := url.Parse(c.url)
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
	_, browser := buildBins(e.t)
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		exe, _ := os.Readlink(filepath.Join("/proc", d.Name(), "exe"))
		if exe != browser {
			continue
		}
		env, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "environ"))
		if bytes.Contains(env, []byte("FAKEBROWSER_LOG="+e.log+"\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// poll waits until cond holds, up to d.
func poll(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// TestFault_ClientDisappearsMidCall: the MCP client goes away while a
// tools/call is in flight (a slow backend, or a sign-in that is waiting for
// the browser). The relay must exit within a few seconds, cancel the
// backend request, leave no lock held and no browser running.
func TestFault_ClientDisappearsMidCall(t *testing.T) {
	c := newChain(t, 0)
	cases := []struct {
		name     string
		tool     string
		slow     bool // the call waits on the slow backend; else on a sign-in
		closeOut bool // the client's end of stdout goes too (a killed client)
	}{
		{"stdin closed during a slow backend call", "echo", true, false},
		{"client killed during a slow backend call", "echo", true, true},
		{"stdin closed during a sign-in wait", "whoami", false, false},
		{"client killed during a sign-in wait", "whoami", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newRelayEnv(t, c)
			var sb *slowBackend
			extra := []string{"FAKEBROWSER_IGNORE=1", "RELAY_LOGIN_TIMEOUT=120s"}
			if tc.slow {
				sb = newSlowBackend(t, c)
				extra = append(extra, "RELAY_BACKEND_URL="+sb.url, "RELAY_BACKEND_TIMEOUT=120s")
			}
			p := e.startServe(t, extra...)
			p.send(t, fmt.Sprintf(callLine, 2, tc.tool, `{"message":"slow"}`))
			if tc.slow {
				sb.waitArrived(t)
			} else if !poll(30*time.Second, func() bool { return e.opens() == 1 }) {
				t.Fatalf("no browser was opened for the sign-in\n%s", tail(p.stderr.String()))
			} else if !poll(10*time.Second, func() bool { return strings.Contains(p.stderr.String(), "sign-in needed") }) {
				t.Fatalf("the relay is not waiting for a sign-in\n%s", tail(p.stderr.String()))
			}
			start := time.Now()
			p.in.Close()
			if tc.closeOut {
				p.outR.Close()
			}
			if !p.waitExit(5 * time.Second) {
				t.Fatalf("the relay did not exit within 5 s after the client went away\n%s", tail(p.stderr.String()))
			}
			t.Logf("exited after %v: %v", time.Since(start).Round(time.Millisecond), p.cmd.ProcessState)
			// A killed client closes stdout too: the relay's writes then
			// fail with EPIPE (SIGPIPE is caught), and it still exits 0.
			if !p.cmd.ProcessState.Success() {
				t.Errorf("exit after stdin closed: %v\n%s", p.cmd.ProcessState, tail(p.stderr.String()))
			}
			noPanic(t, "serve", p.stderr.String())
			if tc.slow && !poll(5*time.Second, func() bool { return sb.cancelled.Load() == 1 }) {
				t.Error("the backend request was not cancelled")
			}
			if !poll(10*time.Second, func() bool { return len(browsersOf(e)) == 0 }) {
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

// inProcess runs the relay's `serve` command in this process on io.Pipes.
type inProcess struct {
	in   *io.PipeWriter
	out  *io.PipeReader
	errb *lockedBuffer
	code chan int
	msgs chan rpcMsg
}

func (e *relayEnv) serveInProcess(t *testing.T, extra ...string) *inProcess {
	t.Helper()
	vars := map[string]string{}
	for k, v := range e.vars {
		vars[k] = v
	}
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
	ip := &inProcess{in: inW, out: outR, errb: &lockedBuffer{}, code: make(chan int, 1), msgs: make(chan rpcMsg, 256)}
	go func() {
		code := run(context.Background(), []string{"serve"}, env{func(k string) string { return vars[k] }}, inR, outW, ip.errb)
		outW.Close()
		inR.Close()
		ip.code <- code
	}()
	go func() {
		defer close(ip.msgs)
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m rpcMsg
			if json.Unmarshal(sc.Bytes(), &m) == nil && (m.Method == "" || len(m.ID) > 0) {
				m.raw = sc.Text()
				ip.msgs <- m
			}
		}
	}()
	return ip
}

func (ip *inProcess) send(t *testing.T, line string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { _, err := io.WriteString(ip.in, line+"\n"); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("write: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the in-process relay stopped reading")
	}
}

func (ip *inProcess) await(t *testing.T, id string) rpcMsg {
	t.Helper()
	end := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-ip.msgs:
			if !ok {
				t.Fatalf("stdout ended before the answer to %s\n%s", id, tail(ip.errb.String()))
			}
			if string(m.ID) == id {
				return m
			}
		case <-end:
			t.Fatalf("no answer to %s\n%s", id, tail(ip.errb.String()))
		}
	}
}

// stop closes stdin (the client went away) and waits for run to return.
func (ip *inProcess) stop(t *testing.T) int {
	t.Helper()
	ip.in.Close()
	select {
	case code := <-ip.code:
		ip.out.Close()
		return code
	case <-time.After(5 * time.Second):
		t.Fatalf("serve did not return within 5 s after stdin closed\n%s", tail(ip.errb.String()))
	}
	return -1
}

// settleGoroutines waits until the goroutine count is back within margin
// of base, and fails with a dump of every goroutine if it does not.
func settleGoroutines(t *testing.T, base, margin int) {
	t.Helper()
	ok := poll(10*time.Second, func() bool {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections() // pooled connections are not leaks
		return runtime.NumGoroutine() <= base+margin
	})
	if !ok {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("%d goroutines, baseline %d (+%d allowed):\n%s", runtime.NumGoroutine(), base, margin, buf)
	}
	t.Logf("goroutines back to %d (baseline %d)", runtime.NumGoroutine(), base)
}

// TestFault_NoGoroutineLeak runs the relay's serve command in this process
// on io.Pipes: a malformed stream, a client gone during a slow backend
// call, and a client gone during a sign-in wait; after each, the goroutine
// count must return to its baseline.
func TestFault_NoGoroutineLeak(t *testing.T) {
	c := newChain(t, 0)
	sb := newSlowBackend(t, c)
	e := newRelayEnv(t, c)
	buildBins(t) // before any baseline
	// baseline is the goroutine count before a run, taken on the subtest's
	// own goroutine; after the run, the count must be back to it exactly.
	baseline := func() int {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		return runtime.NumGoroutine()
	}
	const margin = 0

	t.Run("malformed stream", func(t *testing.T) {
		base := baseline()
		ip := e.serveInProcess(t)
		for _, l := range []string{"not json", `{"jsonrpc":"1.0","id":1,"method":"ping"}`, `{"jsonrpc":"2.0","id":2,"method":"nope"}`,
			`{"jsonrpc":"2.0","id":3,"method":7}`, "\x00\xff\xfe garbage \x01"} {
			ip.send(t, l)
		}
		ip.send(t, fmt.Sprintf(initializeLine, 4))
		ip.send(t, `{"jsonrpc":"2.0","id":5,"method":"tools/list"}`)
		if m := ip.await(t, "5"); m.Error != nil || !strings.Contains(m.raw, "whoami") {
			t.Fatalf("tools/list: %s", m.raw)
		}
		if code := ip.stop(t); code != 0 {
			t.Fatalf("exit code %d\n%s", code, ip.errb.String())
		}
		noPanic(t, "serve", ip.errb.String())
		settleGoroutines(t, base, margin)
	})
	t.Run("client gone during a slow backend call", func(t *testing.T) {
		base := baseline()
		ip := e.serveInProcess(t, "RELAY_BACKEND_URL="+sb.url, "RELAY_BACKEND_TIMEOUT=120s")
		ip.send(t, fmt.Sprintf(initializeLine, 1))
		ip.await(t, "1")
		ip.send(t, fmt.Sprintf(callLine, 2, "echo", `{"message":"slow"}`))
		sb.waitArrived(t)
		if code := ip.stop(t); code != 0 {
			t.Fatalf("exit code %d\n%s", code, ip.errb.String())
		}
		noPanic(t, "serve", ip.errb.String())
		settleGoroutines(t, base, margin)
	})
	t.Run("client gone during a sign-in wait", func(t *testing.T) {
		base := baseline()
		ip := e.serveInProcess(t, "FAKEBROWSER_IGNORE=1", "RELAY_LOGIN_TIMEOUT=120s")
		ip.send(t, fmt.Sprintf(initializeLine, 1))
		ip.await(t, "1")
		ip.send(t, fmt.Sprintf(callLine, 2, "whoami", "{}"))
		if !poll(30*time.Second, func() bool { return e.opens() == 1 && strings.Contains(ip.errb.String(), "sign-in needed") }) {
			t.Fatalf("no sign-in started\n%s", tail(ip.errb.String()))
		}
		if code := ip.stop(t); code != 0 {
			t.Fatalf("exit code %d\n%s", code, ip.errb.String())
		}
		noPanic(t, "serve", ip.errb.String())
		settleGoroutines(t, base, margin)
	})
}
