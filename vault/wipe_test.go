package vault

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestWipe(t *testing.T) {
	ctx := context.Background()
	t.Run("removes everything but the lock", func(t *testing.T) {
		v, kc := openMem(t)
		mustUpdate(t, v, testAcct, fakeRecord())
		write(t, v.path(".tokens.age.tmp-123"), []byte("x"))
		write(t, v.path("tokens.age.corrupt-20260101T000000Z"), []byte("x"))
		rep, err := v.Wipe(ctx)
		testkit.NoErr(t, err)
		if kc.Len() != 0 {
			t.Fatal("keychain item left")
		}
		wantOnlyLock(t, v.Dir(), "Wipe")
		if len(rep.Steps) != 6 || rep.Steps[0].Outcome != Removed || !strings.Contains(rep.Steps[0].What, "keychain") {
			t.Fatalf("report %+v: keychain must come first, then each file", rep.Steps)
		}
		testkit.WantIs(t, testkit.ErrOf(v.Get(ctx, testAcct)), ErrNotFound, "Get after Wipe")
		mustUpdate(t, v, testAcct, fakeRecord()) // a new login works
	})
	t.Run("locked keychain is a failure", func(t *testing.T) {
		v, kc := openMem(t)
		mustUpdate(t, v, testAcct, fakeRecord())
		kc.SetErr(errLocked())
		rep, err := v.Wipe(ctx)
		var we *WipeError
		if !errors.As(err, &we) || !errors.Is(err, ErrWipeIncomplete) || !errors.Is(err, ErrLocked) {
			t.Fatalf("Wipe = %v, want *WipeError wrapping ErrLocked", err)
		}
		if !strings.Contains(err.Error(), "keychain") || len(rep.Failed()) != 1 {
			t.Fatalf("error must name the keychain item: %v", err)
		}
		wantOnlyLock(t, v.Dir(), "files not removed after the keychain failed")
	})
	t.Run("unavailable keychain fails when it holds the key", func(t *testing.T) {
		v, kc := openMem(t)
		mustUpdate(t, v, testAcct, fakeRecord())
		kc.SetErr(errUnavailable())
		_, err := v.Wipe(ctx)
		wantErr(t, err, ErrWipeIncomplete, ErrUnavailable)
	})
	t.Run("unavailable keychain is skipped for other sources", func(t *testing.T) {
		spec, _ := keyFile(t)
		kc := NewMemKeychain()
		v := mustOpen(t, Options{Dir: newDir(t), KeySpec: spec, Keychain: kc})
		mustUpdate(t, v, testAcct, fakeRecord())
		kc.SetErr(errUnavailable())
		rep, err := v.Wipe(ctx)
		if err != nil || rep.Steps[0].Outcome != Skipped {
			t.Fatalf("Wipe = %+v, %v", rep, err)
		}
		wantOnlyLock(t, v.Dir(), "Wipe")
	})
	t.Run("empty vault", func(t *testing.T) {
		v, _ := openMem(t)
		if _, err := v.Wipe(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
