package platform

import (
	"fmt"
	"io/fs"
	"os"
)

// Windows has no O_NOFOLLOW: openPrivate and Lock refuse a symlink by an
// Lstat before the open, and checkNotFollowed closes the race after it.
const (
	oNoFollow = 0
	oNonBlock = 0
)

// checkNotFollowed checks that f, just opened by path, is the file at path
// itself: a symlink put there between the Lstat and the open was followed
// (Windows has no O_NOFOLLOW), and is refused now.
func checkNotFollowed(f *os.File, path string) error {
	lfi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	if lfi.Mode()&fs.ModeSymlink != 0 {
		return symlinkError(path)
	}
	ffi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	if !os.SameFile(lfi, ffi) {
		return &PermissionError{Path: path, Problem: "was replaced while it was being opened", Fix: "try again"}
	}
	return nil
}

// On Windows the data directory lives under the per-user %APPDATA%, whose
// ACL already excludes other users; ACLs are not inspected (a documented
// non-goal). Only the type is checked.
func checkDirOwnerAndMode(dir string, fi fs.FileInfo) (bool, error) { return false, nil }

func checkDirNotShared(string, fs.FileInfo) error { return nil }

func checkOpenFile(f *os.File, path string, strict bool) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if !fi.Mode().IsRegular() {
		return false, &PermissionError{Path: path, Problem: "is not a regular file"}
	}
	return false, nil
}

// syncDir is a no-op: Windows cannot fsync a directory, and MoveFileEx with
// MOVEFILE_REPLACE_EXISTING (os.Rename) is the durable replace there.
func syncDir(string) error { return nil }
