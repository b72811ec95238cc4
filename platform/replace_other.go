//go:build !windows

package platform

import "os"

// replaceFile renames src over dst: rename(2) replaces dst atomically, open
// or not.
func replaceFile(src, dst string) error { return os.Rename(src, dst) }

// openFile is os.OpenFile: no open is refused for a moment here.
func openFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(path, flag, perm)
}
