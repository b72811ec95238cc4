package platform

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/windows"
)

// transientWait bounds how long replaceFile and openFile retry. A variable
// for tests.
var transientWait = 2 * time.Second

// replaceFile renames src over dst (MoveFileEx with
// MOVEFILE_REPLACE_EXISTING). Windows refuses that with "Access is denied"
// while another handle has dst open without FILE_SHARE_DELETE, as Go's
// os.Open does: another process reading dst for a moment (a relay
// starting, which checks the vault's files before it takes the lock; an
// antivirus or the search indexer). The rename is retried for up to
// transientWait, as Go's own cmd/go (internal/robustio) does for the same
// reason.
func replaceFile(src, dst string) error {
	return retryTransient(func() error { return os.Rename(src, dst) })
}

// openFile is os.OpenFile, retried for up to transientWait while Windows
// refuses the open for a moment: "The process cannot access the file
// because it is being used by another process" while another process
// renames a file over it.
func openFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	var f *os.File
	err := retryTransient(func() (err error) {
		f, err = os.OpenFile(path, flag, perm)
		return err
	})
	return f, err
}

func retryTransient(op func() error) error {
	deadline := time.Now().Add(transientWait)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		err := op()
		if err == nil || !transientErr(err) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(delay)
	}
}

func transientErr(err error) bool {
	return errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, windows.ERROR_SHARING_VIOLATION)
}
