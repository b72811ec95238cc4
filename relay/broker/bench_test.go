package broker

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/vault"
)

// BenchmarkTokenMemory measures Token with the token already held in
// memory, as on every tool call after the first: a version check of the
// vault (one stat) and no decryption, refresh or login.
func BenchmarkTokenMemory(b *testing.B) {
	clk := testkit.NewStepClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	fa := &fakeAuth{clk: clk, ttl: time.Hour}
	v, err := vault.Open(context.Background(), vault.Options{Dir: filepath.Join(b.TempDir(), "data"), Keychain: vault.NewMemKeychain(), Now: clk.Now})
	testkit.NoErr(b, err)
	br := &Broker{Account: acct, Store: v, Auth: fa, Now: clk.Now}
	ctx := context.Background()
	if _, err := br.Token(ctx, nil); err != nil { // the one login
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Token(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
	if n := fa.logins.Load() + fa.refreshes.Load(); n != 1 {
		b.Fatalf("%d logins and refreshes, want the first login only", n)
	}
}
