package platform

import (
	"os"
	"runtime"
)

// TuneForStdio sets the process up for serving MCP on stdio, and returns
// the stdin to read. The server waits on stdin and on the backend nearly
// all the time, so one P (GOMAXPROCS=1, unless set in the environment)
// serves it: a message read from stdin, the goroutine that handles it and
// net/http's connection goroutines then run one after another on one
// thread, instead of each hand-off waking another thread (a futex wake and
// a context switch each, which on a busy 2-core machine cost more than the
// relay's own work). stdin is read through the poller for the same
// reason (see PollableStdin); restore puts it back as it was.
func TuneForStdio() (stdin *os.File, restore func()) {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	return PollableStdin()
}

// PollableStdin returns os.Stdin for a server that reads it for its whole
// life (the relay's stdio transport), read through the Go runtime's poller
// when it is a pipe or a socket.
//
// A blocking read on a pipe holds an OS thread in the kernel while the
// client is quiet; every message then wakes that thread, and the runtime
// must hand the goroutine that handles the message to another thread. Read
// through the poller, a waiting read holds no thread, and a message is
// handled on the thread that noticed it.
//
// On Unix this sets O_NONBLOCK on stdin's open file description, which the
// process that started us does not read from (it holds the other end of
// the pipe). Terminals and regular files are left as they are: a terminal's
// description is shared with the shell. Once this is called, read stdin
// only through the returned file; call restore before exiting, so that a
// process that inherits the description after us (a shell running
// `relay serve; next`) finds it blocking again.
func PollableStdin() (f *os.File, restore func()) {
	st, err := os.Stdin.Stat()
	if err != nil || st.Mode()&(os.ModeNamedPipe|os.ModeSocket) == 0 {
		return os.Stdin, func() {}
	}
	return pollableStdin()
}
