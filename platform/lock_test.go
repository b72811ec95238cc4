package platform

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestLockExcludesSecondHolderUntilUnlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	l, err := Lock(context.Background(), path)
	testkit.NoErr(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	testkit.WantIs(t, testkit.ErrOf(Lock(ctx, path)), context.DeadlineExceeded, "second Lock while held")
	got := make(chan error, 1)
	go func() {
		l2, err := Lock(context.Background(), path)
		if err == nil {
			err = l2.Unlock()
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the waiter block; not needed for correctness
	testkit.NoErr(t, l.Unlock())
	select {
	case err := <-got:
		testkit.NoErr(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("waiter did not get the lock after Unlock")
	}
	if err := l.Unlock(); err == nil {
		t.Fatal("second Unlock should fail")
	}
}

func TestLockAbandonedWaitDoesNotKeepLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	l, err := Lock(context.Background(), path)
	testkit.NoErr(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := Lock(ctx, path); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	testkit.WantIs(t, <-errc, context.Canceled, "abandoned Lock")
	l.Unlock()
	// The abandoned waiter may get the lock briefly; it must let go.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	l3, err := Lock(ctx2, path)
	testkit.NoErr(t, err, "lock still held by an abandoned waiter")
	l3.Unlock()
}

func TestLockRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, nil, 0o600)
	link := filepath.Join(dir, "lock")
	if err := os.Symlink(target, link); err != nil {
		t.Skip("symlinks unsupported:", err)
	}
	testkit.WantIs(t, testkit.ErrOf(Lock(context.Background(), link)), ErrInsecure, "Lock(symlink)")
}

// TryLock takes a free lock at once, and reports a held one without
// waiting; once released, it takes it.
func TestTryLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	l, ok, err := TryLock(path)
	if err != nil || !ok {
		t.Fatalf("TryLock on a free lock = %v, %v", ok, err)
	}
	if l2, ok, err := TryLock(path); err != nil || ok || l2 != nil {
		t.Fatalf("TryLock on a held lock = %v, %v, %v; want not ok, no error", l2, ok, err)
	}
	testkit.NoErr(t, l.Unlock())
	l3, ok, err := TryLock(path)
	if err != nil || !ok {
		t.Fatalf("TryLock after Unlock = %v, %v", ok, err)
	}
	l3.Unlock()
}
