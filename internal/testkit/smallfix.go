package testkit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// StepClock is a fake clock that only the test moves. It is safe for
// concurrent use; pass its Now where a clock is injected.
type StepClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewStepClock returns a clock standing at t.
func NewStepClock(t time.Time) *StepClock { return &StepClock{t: t} }

// Now returns the clock's time.
func (c *StepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *StepClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// WriteTemp writes content to a file name in a new temporary directory,
// with mode perm whatever the umask, and returns its path.
func WriteTemp(t testing.TB, name, content string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil {
		t.Fatal(err)
	}
	return p
}

// DirNames lists the names in dir; none if dir does not exist.
func DirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// NoErr stops the test if err is not nil: the check after a call whose
// error only says the test cannot go on. what, if given, names the call.
func NoErr(t testing.TB, err error, what ...string) {
	t.Helper()
	if err != nil && len(what) > 0 {
		t.Fatalf("%s: %v", strings.Join(what, " "), err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// ErrOf is the error of a call whose value a check does not need.
func ErrOf[T any](_ T, err error) error { return err }

// WantIs stops the test unless err wraps target; format and args name
// the case. ExpectIs only marks it failed, for checks in a loop or a
// goroutine.
func WantIs(t testing.TB, err, target error, format string, args ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err %v, want %v", fmt.Sprintf(format, args...), err, target)
	}
}

// ExpectIs is WantIs that lets the test go on.
func ExpectIs(t testing.TB, err, target error, format string, args ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err %v, want %v", fmt.Sprintf(format, args...), err, target)
	}
}

// Contains stops the test unless s holds each of want; what names s in
// the message, which shows all of s.
func Contains(t testing.TB, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Fatalf("%s: %q is missing from\n%s", what, w, s)
		}
	}
}
