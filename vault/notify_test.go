package vault

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/platform"
)

// lockWaits counts the calls of a WithLockWait callback and of its stop.
type lockWaits struct{ waits, stops atomic.Int32 }

func (w *lockWaits) ctx() context.Context {
	return WithLockWait(context.Background(), func() func() {
		w.waits.Add(1)
		return func() { w.stops.Add(1) }
	})
}

// TestLockWaitOnlyWhenAnotherHoldsTheLock (issue 15, 6c): the lock-wait
// callback runs when the vault's lock is held elsewhere, and its stop once
// the lock is had; a read that gets the lock at once calls neither, even
// when the key source is slow.
func TestLockWaitOnlyWhenAnotherHoldsTheLock(t *testing.T) {
	kc := &slowKeychain{MemKeychain: NewMemKeychain(), entered: make(chan struct{}, 1), release: make(chan struct{})}
	v := mustOpen(t, Options{Dir: newDir(t), Keychain: kc})
	close(kc.release)
	mustUpdate(t, v, testAcct, setAccessRecord(fakeToken("access")))
	select {
	case <-kc.entered: // the first login's read-back
	default:
	}

	t.Run("free lock, slow keychain", func(t *testing.T) {
		var w lockWaits
		kc.release = make(chan struct{})
		v.forget() // the key must come from the keychain
		done := make(chan error, 1)
		go func() { done <- testkit.ErrOf(v.Get(w.ctx(), testAcct)) }()
		<-kc.entered // the read holds the lock and waits for the keychain
		close(kc.release)
		testkit.NoErr(t, <-done)
		if w.waits.Load() != 0 || w.stops.Load() != 0 {
			t.Fatalf("a read that got the lock at once said it waited (%d, %d)", w.waits.Load(), w.stops.Load())
		}
	})
	t.Run("lock held by another", func(t *testing.T) {
		var w lockWaits
		held, err := platform.Lock(context.Background(), v.path(fileLock))
		testkit.NoErr(t, err)
		t.Cleanup(func() { held.Unlock() }) // on failure; a second Unlock only errs
		done := make(chan error, 1)
		go func() { done <- testkit.ErrOf(v.Get(w.ctx(), testAcct)) }()
		testkit.Poll(t, 10*time.Second, "the wait callback", func() bool { return w.waits.Load() == 1 })
		if w.stops.Load() != 0 {
			t.Fatal("stopped before the lock was had")
		}
		testkit.NoErr(t, held.Unlock())
		testkit.NoErr(t, <-done)
		if w.waits.Load() != 1 || w.stops.Load() != 1 {
			t.Fatalf("waits %d, stops %d; want 1, 1", w.waits.Load(), w.stops.Load())
		}
	})
	t.Run("no callback", func(t *testing.T) {
		testkit.NoErr(t, testkit.ErrOf(v.Get(context.Background(), testAcct)))
	})
}

// slowKeychain is a MemKeychain whose Get signals entered, then waits for
// release.
type slowKeychain struct {
	*MemKeychain
	entered chan struct{}
	release chan struct{}
}

func (k *slowKeychain) Get(ctx context.Context, account string) (secret.Value, error) {
	select {
	case k.entered <- struct{}{}:
	default:
	}
	<-k.release
	return k.MemKeychain.Get(ctx, account)
}
