//go:build unix

package platform

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"golang.org/x/sys/unix"
)

// TestPollableStdin runs this test binary as a child whose stdin is a
// pipe: the file PollableStdin returns must go through the poller (only
// such files take a read deadline) and still read what was written.
func TestPollableStdin(t *testing.T) {
	if os.Getenv("PLATFORM_STDIN_CHILD") == "1" {
		f, restore := PollableStdin()
		err := f.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, rerr := bufio.NewReader(f).ReadString('\n')
		restore()
		flags, _ := unix.FcntlInt(0, unix.F_GETFL, 0)
		fmt.Printf("deadline=%v line=%q err=%v restored=%v\n", err, line, rerr, flags&unix.O_NONBLOCK == 0)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPollableStdin$")
	cmd.Env = append(os.Environ(), "PLATFORM_STDIN_CHILD=1")
	cmd.Stdin = strings.NewReader("hello\n") // os/exec feeds it through a pipe
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if want := `deadline=<nil> line="hello\n" err=<nil> restored=true`; !strings.Contains(string(out), want) {
		t.Fatalf("child said %q, want %q", out, want)
	}
}

// A regular file is not switched: it is returned as os.Stdin.
func TestPollableStdinFile(t *testing.T) {
	if os.Getenv("PLATFORM_STDIN_CHILD") == "2" {
		f, restore := PollableStdin()
		restore()
		fmt.Printf("same=%v\n", f == os.Stdin)
		return
	}
	f, err := os.Open(os.Args[0])
	testkit.NoErr(t, err)
	defer f.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPollableStdinFile$")
	cmd.Env = append(os.Environ(), "PLATFORM_STDIN_CHILD=2")
	cmd.Stdin = f
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "same=true") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
