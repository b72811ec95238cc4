package platform

import (
	"errors"
	"fmt"
)

var (
	// ErrInsecure reports a path whose type, owner or permissions make it
	// unsafe to keep secrets in. Errors wrapping it are *PermissionError.
	ErrInsecure = errors.New("platform: insecure path")

	// ErrUnsafeURL reports a URL OpenBrowser refuses to open.
	ErrUnsafeURL = errors.New("platform: refusing to open URL")

	// errUnlocked is returned by Unlock on a lock already released.
	errUnlocked = errors.New("platform: lock already released")
)

// PermissionError explains why a path was refused and how to fix it.
type PermissionError struct {
	Path    string // the path that was refused
	Problem string // what is wrong, e.g. "is a symlink"
	Fix     string // a next step for the user, may be empty
}

func (e *PermissionError) Error() string {
	msg := fmt.Sprintf("platform: refusing %s: it %s", e.Path, e.Problem)
	if e.Fix != "" {
		msg += "; " + e.Fix
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrInsecure) true.
func (e *PermissionError) Unwrap() error { return ErrInsecure }
