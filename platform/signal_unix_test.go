//go:build unix

package platform

import (
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// SIGTERM cancels the context. The handlers are installed on another
// goroutine, so the signal is sent until it is seen; the test's own
// handler keeps a signal sent before then from ending the test binary.
func TestNotifyContextSIGTERM(t *testing.T) {
	guard := make(chan os.Signal, 1)
	signal.Notify(guard, syscall.SIGTERM)
	defer signal.Stop(guard)
	ctx, stop := NotifyContext()
	defer stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		testkit.NoErr(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
		select {
		case <-ctx.Done():
			return
		case <-deadline:
			t.Fatal("SIGTERM did not cancel the context")
		case <-tick.C:
		}
	}
}
