//go:build unix

package platform

import (
	"os"

	"golang.org/x/sys/unix"
)

// stdin keeps the pollable file reachable for the life of the process: its
// finalizer would close descriptor 0.
var stdin *os.File

func pollableStdin() (*os.File, func()) {
	const fd = 0
	flags, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
	if err != nil || flags&unix.O_NONBLOCK != 0 {
		return os.Stdin, func() {} // already non-blocking: os.Stdin uses the poller
	}
	if unix.SetNonblock(fd, true) != nil {
		return os.Stdin, func() {}
	}
	restore := func() { _ = unix.SetNonblock(fd, false) }
	if stdin = os.NewFile(fd, os.Stdin.Name()); stdin == nil {
		restore()
		return os.Stdin, func() {}
	}
	return stdin, restore
}
