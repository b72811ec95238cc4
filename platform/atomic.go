package platform

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

const tempInfix = ".tmp-"

// AtomicFile writes a new version of a file that replaces the old one only on
// Commit. The content goes to a temporary file (mode 0600, created
// exclusively) in the target's directory; Commit syncs it, renames it over
// the target and syncs the directory. Until the rename, readers and a crash
// see only the old file; after it, only the new one.
//
// An AtomicFile is not safe for concurrent use. Callers serialise writers
// with a FileLock.
type AtomicFile struct {
	f      *os.File
	path   string
	synced bool
	done   bool
}

// CreateAtomic starts a replacement of path.
func CreateAtomic(path string) (*AtomicFile, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+tempInfix+"*")
	if err != nil {
		return nil, fmt.Errorf("platform: create temp file: %w", err)
	}
	return &AtomicFile{f: f, path: path}, nil
}

// Write appends to the new content.
func (a *AtomicFile) Write(p []byte) (int, error) {
	if a.synced || a.done {
		return 0, errors.New("platform: write after sync")
	}
	return a.f.Write(p)
}

// TempName is the temporary file's path.
func (a *AtomicFile) TempName() string { return a.f.Name() }

// Sync flushes the new content to stable storage and closes the temporary
// file. The target is unchanged until Commit.
func (a *AtomicFile) Sync() error {
	if a.synced {
		return nil
	}
	if err := a.f.Sync(); err != nil {
		a.Abort()
		return fmt.Errorf("platform: sync temp file: %w", err)
	}
	if err := a.f.Close(); err != nil {
		a.Abort()
		return fmt.Errorf("platform: close temp file: %w", err)
	}
	a.synced = true
	return nil
}

// Commit syncs the new content if Sync was not called, renames it over the
// target and syncs the directory so that the rename itself is durable.
func (a *AtomicFile) Commit() error {
	if a.done {
		return errors.New("platform: commit after commit or abort")
	}
	if err := a.Sync(); err != nil {
		return err
	}
	if err := replaceFile(a.f.Name(), a.path); err != nil {
		a.Abort()
		return fmt.Errorf("platform: replace %s: %w", a.path, err)
	}
	a.done = true
	if err := syncDir(filepath.Dir(a.path)); err != nil {
		return fmt.Errorf("platform: sync directory of %s: %w", a.path, err)
	}
	return nil
}

// Abort removes the temporary file. It is a no-op after Commit, so
// `defer a.Abort()` is the usual pattern.
func (a *AtomicFile) Abort() error {
	if a.done {
		return nil
	}
	a.done = true
	if !a.synced {
		a.f.Close()
	}
	if err := os.Remove(a.f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// WriteFileAtomic replaces path with data through an AtomicFile.
func WriteFileAtomic(path string, data []byte) error {
	a, err := CreateAtomic(path)
	if err != nil {
		return err
	}
	defer a.Abort()
	if _, err := a.Write(data); err != nil {
		return fmt.Errorf("platform: write temp file: %w", err)
	}
	return a.Commit()
}

// CommitNew is Commit for a target that must not exist yet: the synced
// temporary file is linked to the target, not renamed over it, so an
// existing target is never replaced (an error wrapping fs.ErrExist), and
// until the link the target does not exist: a crash leaves at most the
// temporary file. The temporary file is then removed and the directory
// synced. On a file system without hard links the target is created
// exclusively and the content copied in; there a crash can leave it
// partly written.
func (a *AtomicFile) CommitNew() error {
	if a.done {
		return errors.New("platform: commit after commit or abort")
	}
	if err := a.Sync(); err != nil {
		return err
	}
	defer a.Abort() // the temporary file goes in every case
	err := os.Link(a.f.Name(), a.path)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("platform: create %s: %w", a.path, fs.ErrExist)
	}
	if err != nil {
		err = copyExclusive(a.f.Name(), a.path)
	}
	if err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(a.path)); err != nil {
		return fmt.Errorf("platform: sync directory of %s: %w", a.path, err)
	}
	return nil
}

// copyExclusive creates dst (0600, never replacing a file) with the
// content of src, synced; dst is removed if a write fails.
func copyExclusive(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("platform: read temp file: %w", err)
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, 0o600)
	if err != nil {
		return fmt.Errorf("platform: create %s: %w", dst, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
		return fmt.Errorf("platform: write %s: %w", dst, err)
	}
	return nil
}

// IsAtomicTemp reports whether name (a base name) looks like a temporary file
// left by an AtomicFile that never committed, e.g. after a crash.
func IsAtomicTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tempInfix)
}
