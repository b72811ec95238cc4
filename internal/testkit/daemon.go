package testkit

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Daemon is a long-running helper process (a backend): its stdout and
// stderr go to Output.
type Daemon struct {
	Cmd    *exec.Cmd
	Output *Buffer
	exited chan struct{}
	err    error // Wait's, once exited is closed
}

// StartDaemon runs bin with args and exactly env. When the test ends it
// gets SIGTERM and must exit within 10 s (else it is killed and the test
// fails); if the test failed, its output is logged.
func StartDaemon(t testing.TB, bin string, env []string, args ...string) *Daemon {
	t.Helper()
	d := &Daemon{Cmd: exec.Command(bin, args...), Output: &Buffer{}, exited: make(chan struct{})}
	d.Cmd.Env = env
	d.Cmd.Stdout, d.Cmd.Stderr = d.Output, d.Output
	if err := d.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { d.err = d.Cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		_ = d.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(10 * time.Second):
			_ = d.Cmd.Process.Kill()
			<-d.exited
			t.Errorf("%s did not stop within 10 s of SIGTERM; killed", bin)
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", bin, d.Output.String())
		}
	})
	return d
}

// StartBackend runs the backend binary on a free loopback port, with PATH,
// a private HOME and env (nothing of the test's own backend settings),
// waits for /healthz, and returns its URL.
func StartBackend(t testing.TB, env ...string) string {
	t.Helper()
	addr := FreeAddr(t)
	StartDaemon(t, Backend(t), append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "BACKEND_ADDR=" + addr}, env...)).
		WaitHealthy(t, "http://"+addr+"/healthz")
	return "http://" + addr
}

// WaitHealthy waits up to 15 s for url to answer 200, and fails the test
// if it does not, or if the process exits first.
func (d *Daemon) WaitHealthy(t testing.TB, url string) {
	t.Helper()
	probe := &http.Client{Timeout: 2 * time.Second}
	var last error
	ok := Eventually(15*time.Second, func() bool {
		select {
		case <-d.exited:
			t.Fatalf("%s exited before it was ready: %v\n%s", d.Cmd.Path, d.err, d.Output.String())
		default:
		}
		resp, err := probe.Get(url)
		if last = err; err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if !ok {
		t.Fatalf("%s not healthy after 15 s: %v\n%s", url, last, d.Output.String())
	}
}

// FreeAddr returns a loopback address (127.0.0.1:PORT) that was free a
// moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
