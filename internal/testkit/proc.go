package testkit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Proc is a process on raw pipes (a relay, usually): Stdio speaks to its
// stdin and stdout, and its stderr is kept.
type Proc struct {
	*Stdio
	Cmd    *exec.Cmd
	Out    *os.File // the read end of its stdout: closing it is a client gone
	exited chan struct{}
}

// RunCmd runs bin with args and exactly env to completion, within 2
// minutes (else the test fails), and returns its stdout, stderr and exit
// code. A child left holding the pipes does not stall it.
func RunCmd(t testing.TB, bin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %s did not finish within 2 minutes\n%s", filepath.Base(bin), strings.Join(args, " "), Tail(errb.String()))
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil && !errors.Is(err, exec.ErrWaitDelay):
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// Procs lists the live processes, other than this one, whose /proc
// directory satisfies match; none without procfs.
func Procs(match func(dir string) bool) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err == nil && pid != os.Getpid() && match(filepath.Join("/proc", e.Name())) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Start runs bin with args and exactly env (nothing of the test's own).
// When the test ends, its stdin is closed and, if it has not exited 5 s
// later, it is killed.
func Start(t testing.TB, bin string, env []string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	stderr := &Buffer{}
	cmd.Stderr = stderr
	cmd.WaitDelay = 2 * time.Second // a leftover child holding stderr must not stall Wait
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	p := &Proc{Stdio: NewStdio(in, out, stderr), Cmd: cmd, Out: out, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		in.Close()
		if !p.Exited(5 * time.Second) {
			_ = cmd.Process.Kill()
			<-p.exited
		}
		out.Close()
	})
	return p
}

// Exited reports whether the process has exited, waiting up to d.
func (p *Proc) Exited(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-p.exited:
		return true
	case <-timer.C:
		return false
	}
}

// KillAfter SIGKILLs the process after delay unless it exited first, and
// reports whether the kill landed while it ran.
func (p *Proc) KillAfter(t testing.TB, delay time.Duration) bool {
	t.Helper()
	if p.Exited(delay) {
		return false
	}
	_ = p.Cmd.Process.Kill()
	if !p.Exited(10 * time.Second) {
		t.Fatal("a SIGKILLed process did not exit")
	}
	return true
}
