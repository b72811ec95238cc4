package platform

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// EnsureDir creates dir (and missing parents) with mode 0700 if needed, then
// checks it: a symlink, a non-directory or a directory owned by another user
// is refused with a *PermissionError; a mode looser than 0700 is fixed.
// It reports whether the mode had to be fixed.
func EnsureDir(dir string) (fixed bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		if fi, lerr := os.Lstat(dir); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return false, symlinkError(dir)
		}
		return false, fmt.Errorf("platform: create %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return false, fmt.Errorf("platform: %w", err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return false, symlinkError(dir)
	}
	if !fi.IsDir() {
		return false, &PermissionError{Path: dir, Problem: "is not a directory"}
	}
	return checkDirOwnerAndMode(dir, fi)
}

// CheckOwnDir checks an existing directory in which a new private file is
// to be created: it must be a directory (a symlink to one is followed),
// owned by the current user, and not writable by group or other, who could
// replace the file. Unlike EnsureDir it creates nothing and changes no
// mode: the directory is the user's. A refusal is a *PermissionError; a
// missing directory an error wrapping fs.ErrNotExist.
func CheckOwnDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	if !fi.IsDir() {
		return &PermissionError{Path: dir, Problem: "is not a directory"}
	}
	return checkDirNotShared(dir, fi)
}

// CheckFile checks an existing private file: a symlink, a non-regular file or
// a file owned by another user is refused with a *PermissionError; a mode
// looser than 0600 is fixed. A missing file returns an error satisfying
// errors.Is(err, fs.ErrNotExist). It reports whether the mode was fixed.
func CheckFile(path string) (fixed bool, err error) {
	f, err := openPrivate(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	return checkOpenFile(f, path, false)
}

// ReadFile reads a private file after the checks of CheckFile (fixing a loose
// mode). It fails if the file holds more than limit bytes.
func ReadFile(path string, limit int64) ([]byte, error) {
	return readChecked(path, limit, false)
}

// ReadSecretFile reads a file the user supplied that holds a secret, such as
// a key or passphrase file. Unlike ReadFile it refuses, rather than fixes, a
// file readable by group or other: the secret may already have been read.
func ReadSecretFile(path string, limit int64) ([]byte, error) {
	return readChecked(path, limit, true)
}

func readChecked(path string, limit int64, strict bool) ([]byte, error) {
	f, err := openPrivate(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := checkOpenFile(f, path, strict); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("platform: read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("platform: %s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// openPrivate opens path read-only without following a final symlink.
func openPrivate(path string) (*os.File, error) {
	// Lstat first gives a clear message for symlinks on every OS; the
	// O_NOFOLLOW open closes the race on Unix.
	// A FIFO or device is refused before open, which could block; on Unix
	// O_NONBLOCK also covers a swap between the check and the open.
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSymlink != 0 {
			return nil, symlinkError(path)
		}
		if !fi.Mode().IsRegular() {
			return nil, &PermissionError{Path: path, Problem: "is not a regular file"}
		}
	}
	f, err := openFile(path, os.O_RDONLY|oNoFollow|oNonBlock, 0)
	if err != nil {
		if isSymlinkErr(path, err) {
			return nil, symlinkError(path)
		}
		return nil, fmt.Errorf("platform: open: %w", err)
	}
	if err := checkNotFollowed(f, path); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func symlinkError(path string) error {
	return &PermissionError{Path: path, Problem: "is a symlink",
		Fix: "keyrelay does not follow symlinks for private files; use the real path"}
}

func isSymlinkErr(path string, err error) bool {
	fi, lerr := os.Lstat(path)
	return err != nil && lerr == nil && fi.Mode()&fs.ModeSymlink != 0
}
