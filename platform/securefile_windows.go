package platform

import (
	"io/fs"
	"os"
)

// Windows has no O_NOFOLLOW; openPrivate's Lstat check refuses symlinks.
const (
	oNoFollow = 0
	oNonBlock = 0
)

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
