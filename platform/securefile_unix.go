//go:build unix

package platform

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

const (
	oNoFollow = syscall.O_NOFOLLOW
	oNonBlock = syscall.O_NONBLOCK
)

// checkNotFollowed has nothing to do on Unix: O_NOFOLLOW refused a final
// symlink in the open itself.
func checkNotFollowed(*os.File, string) error { return nil }

// checkDirOwnerAndMode refuses a directory owned by another user and fixes a
// mode looser than 0700.
func checkDirOwnerAndMode(dir string, fi fs.FileInfo) (bool, error) {
	if err := checkOwner(dir, fi); err != nil {
		return false, err
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return false, nil
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return false, &PermissionError{Path: dir, Problem: fmt.Sprintf("has mode %04o and cannot be changed to 0700", fi.Mode().Perm()),
			Fix: "run chmod 700 on it"}
	}
	return true, nil
}

// checkDirNotShared refuses a directory owned by another user or writable
// by group or other.
func checkDirNotShared(dir string, fi fs.FileInfo) error {
	if err := checkOwner(dir, fi); err != nil {
		var pe *PermissionError
		if errors.As(err, &pe) {
			pe.Fix = "choose a directory of your own"
		}
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return &PermissionError{Path: dir, Problem: fmt.Sprintf("is writable by group or other users (mode %04o)", perm),
			Fix: "run chmod go-w on it, or choose a directory of your own"}
	}
	return nil
}

// checkOpenFile checks an open file: regular, owned by the current user, and
// not accessible by group or other. With strict, a loose mode is refused;
// otherwise it is fixed to 0600.
func checkOpenFile(f *os.File, path string, strict bool) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("platform: stat: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return false, &PermissionError{Path: path, Problem: "is not a regular file"}
	}
	if err := checkOwner(path, fi); err != nil {
		return false, err
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return false, nil
	}
	if strict {
		return false, &PermissionError{Path: path,
			Problem: fmt.Sprintf("is accessible by group or other users (mode %04o)", perm),
			Fix:     "run chmod 600 on it, and consider replacing the secret it holds, which others could read"}
	}
	if err := f.Chmod(0o600); err != nil {
		return false, &PermissionError{Path: path, Problem: fmt.Sprintf("has mode %04o and cannot be changed to 0600", perm),
			Fix: "run chmod 600 on it"}
	}
	return true, nil
}

func checkOwner(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return &PermissionError{Path: path, Problem: "has no Unix owner information"}
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return &PermissionError{Path: path,
			Problem: fmt.Sprintf("is owned by uid %d, not by the current user (uid %d)", st.Uid, uid),
			Fix:     "use a directory of your own (set " + EnvDataDir + ") or fix its owner"}
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
