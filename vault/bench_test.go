package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"path/filepath"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// BenchmarkLoad measures reading a token the way a new relay process does:
// open the vault, load the key from its source, decrypt tokens.age. Each
// iteration opens a new Vault, so nothing is cached. Compare with
// BenchmarkGetCachedKey and with broker's BenchmarkTokenMemory.
func BenchmarkLoad(b *testing.B) {
	b.Run("keychain", func(b *testing.B) {
		kc := benchKeychain(b)
		benchLoad(b, Options{Dir: filepath.Join(b.TempDir(), "data"), KeySpec: "keychain", Keychain: kc})
	})
	b.Run("file", func(b *testing.B) {
		benchLoad(b, Options{Dir: filepath.Join(b.TempDir(), "data"), KeySpec: benchKeyFile(b)})
	})
}

// BenchmarkGetCachedKey measures Get on an open vault whose key is already
// unwrapped: the lock, the read and the age decryption of tokens.age.
func BenchmarkGetCachedKey(b *testing.B) {
	ctx := context.Background()
	opts := Options{Dir: filepath.Join(b.TempDir(), "data"), KeySpec: benchKeyFile(b)}
	v := benchSeed(b, opts)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Get(ctx, testAcct); err != nil {
			b.Fatal(err)
		}
	}
}

func benchLoad(b *testing.B, opts Options) {
	ctx := context.Background()
	benchSeed(b, opts)
	b.ReportAllocs()
	for b.Loop() {
		v, err := Open(ctx, opts)
		testkit.NoErr(b, err)
		if _, err := v.Get(ctx, testAcct); err != nil {
			b.Fatal(err)
		}
	}
}

// benchSeed writes one record with opts and returns the vault.
func benchSeed(b *testing.B, opts Options) *Vault {
	b.Helper()
	v := mustOpen(b, opts)
	mustUpdate(b, v, testAcct, fakeRecord())
	return v
}

func benchKeyFile(b *testing.B) string { spec, _ := keyFile(b); return spec }

// benchKeychain returns the real OS keychain under a throwaway service
// name, or skips when there is none (run through
// scripts/with-secret-service.sh on Linux).
func benchKeychain(b *testing.B) *OSKeychain {
	b.Helper()
	var r [6]byte
	_, _ = rand.Read(r[:])
	k := &OSKeychain{Service: "keyrelay-bench-" + hex.EncodeToString(r[:])}
	if _, err := k.Get(context.Background(), "probe"); err != nil && !errors.Is(err, ErrNotFound) {
		b.Skip("no OS keychain: " + err.Error())
	}
	b.Cleanup(func() { _ = k.DeleteAll(context.Background()) })
	return k
}
