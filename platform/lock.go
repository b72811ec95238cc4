package platform

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"sync"
)

// FileLock is an exclusive advisory lock on a file, held across processes
// (flock on Unix, LockFileEx on Windows). Every acquisition opens its own
// file handle, so two goroutines of one process exclude each other too.
// A FileLock is released by Unlock or when the process exits.
type FileLock struct {
	mu sync.Mutex
	f  *os.File
}

// Lock takes an exclusive lock on path, creating the file (0600) if needed.
// It refuses a symlink or a file owned by another user. It blocks until the
// lock is free or ctx ends; in the latter case it returns ctx's error and the
// lock, if later granted, is dropped at once.
func Lock(ctx context.Context, path string) (*FileLock, error) {
	f, err := openLockFile(path)
	if err != nil {
		return nil, err
	}
	ok, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("platform: lock %s: %w", path, err)
	}
	if ok {
		return &FileLock{f: f}, nil
	}
	return waitLock(ctx, path, f)
}

// TryLock takes an exclusive lock on path if it is free now, as Lock does;
// ok is false, with no error, when another handle holds it. It never
// blocks.
func TryLock(path string) (l *FileLock, ok bool, err error) {
	f, err := openLockFile(path)
	if err != nil {
		return nil, false, err
	}
	if ok, err = tryLock(f); err != nil || !ok {
		f.Close()
		if err != nil {
			return nil, false, fmt.Errorf("platform: lock %s: %w", path, err)
		}
		return nil, false, nil
	}
	return &FileLock{f: f}, true, nil
}

// waitLock blocks in a goroutine so that ctx can end the wait. If ctx wins,
// the goroutine closes the file once its blocking call returns, which drops
// the lock if it was granted.
func waitLock(ctx context.Context, path string, f *os.File) (*FileLock, error) {
	// done is unbuffered: once ctx has won, the send can never complete, so
	// the goroutine takes the abandon branch and closes the file.
	done := make(chan error)
	abandon := make(chan struct{})
	go func() {
		err := lockBlocking(f)
		select {
		case done <- err:
		case <-abandon:
			f.Close()
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("platform: lock %s: %w", path, err)
		}
		return &FileLock{f: f}, nil
	case <-ctx.Done():
		close(abandon)
		return nil, ctx.Err()
	}
}

// Unlock releases the lock. Calling it twice returns an error.
func (l *FileLock) Unlock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errUnlocked
	}
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

func openLockFile(path string) (*os.File, error) {
	// As openPrivate: the Lstat refuses a symlink on every OS (Windows has
	// no O_NOFOLLOW), and the open is checked against the path after.
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSymlink != 0 {
			return nil, symlinkError(path)
		}
		if !fi.Mode().IsRegular() {
			return nil, &PermissionError{Path: path, Problem: "is not a regular file"}
		}
	}
	f, err := openFile(path, os.O_RDWR|os.O_CREATE|oNoFollow|oNonBlock, 0o600)
	if err != nil {
		if isSymlinkErr(path, err) {
			return nil, symlinkError(path)
		}
		return nil, fmt.Errorf("platform: open lock file: %w", err)
	}
	if err := checkNotFollowed(f, path); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := checkOpenFile(f, path, false); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
