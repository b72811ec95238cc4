package platform

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// NotifyContext is signal.NotifyContext for SIGINT and SIGTERM, with the
// handlers installed on another goroutine: installing them costs about as
// much as the rest of the relay's own start-up (the runtime starts a
// thread for signals), and a stdio server should answer its first message
// first. A signal in the meantime ends the process, as one before main
// would.
//
// SIGPIPE is caught too (and dropped): when a client that goes away closes
// our stdout, a write to it fails with EPIPE instead of killing the
// process, which then ends normally when stdin ends, with its work (a
// token being stored) finished. Caught, not ignored: an ignored signal
// would stay ignored in the children (the browser, a key command).
//
// stop releases the handlers and cancels the context; it may be called
// more than once.
func NotifyContext() (ctx context.Context, stop context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	c := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() {
		signal.Notify(c, os.Interrupt, syscall.SIGTERM)
		signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
		select {
		case <-c:
			cancel()
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			close(done)
			signal.Stop(c)
			cancel()
		})
	}
}
