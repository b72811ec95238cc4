package platform

import "os"

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
