package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestUpdateThenGetRoundTrip(t *testing.T) {
	v, kc := openMem(t)
	ctx := context.Background()
	want := fakeRecord()
	mustUpdate(t, v, testAcct, want)
	got, err := v.Get(ctx, testAcct)
	testkit.NoErr(t, err)
	if !got.AccessToken.Equal(want.AccessToken) || !got.RefreshToken.Equal(want.RefreshToken) ||
		!got.Registration.ClientSecret.Equal(want.Registration.ClientSecret) ||
		!got.Expiry.Equal(want.Expiry) || got.Subject != want.Subject || !slices.Equal(got.Scopes, want.Scopes) ||
		got.Registration.ClientID != "dyn-client-1" || got.Updated.IsZero() || !got.SignedIn.Equal(want.SignedIn) {
		t.Fatalf("round trip mismatch: %+v", got)
	}
	if kc.Len() != 1 {
		t.Fatalf("keychain holds %d items, want the one vault key", kc.Len())
	}
	other := testAcct
	other.Resource = "https://other.example.test"
	testkit.WantIs(t, testkit.ErrOf(v.Get(ctx, other)), ErrNotFound, "Get(other)")
	accts, err := v.Accounts(ctx)
	if err != nil || len(accts) != 1 || accts[0] != testAcct {
		t.Fatalf("Accounts = %v, %v", accts, err)
	}
}

// The key is created on the first write, never on a read.
func TestReadsNeverCreateKey(t *testing.T) {
	v, kc := openMem(t)
	testkit.WantIs(t, testkit.ErrOf(v.Get(context.Background(), testAcct)), ErrNotFound, "Get on empty vault")
	// A no-op Update (nil for a missing record) is not a write either.
	testkit.NoErr(t, v.Update(context.Background(), testAcct, func(*Record) (*Record, error) { return nil, nil }))
	if kc.Len() != 0 {
		t.Fatal("a read created a keychain item")
	}
	wantOnlyLock(t, v.Dir(), "after reads")
}

func TestUpdateSemantics(t *testing.T) {
	ctx := context.Background()
	t.Run("callback error aborts", func(t *testing.T) {
		v, _ := openMem(t)
		mustUpdate(t, v, testAcct, &Record{AccessToken: secret.New("one")})
		boom := errors.New("refresh failed")
		err := v.Update(ctx, testAcct, func(*Record) (*Record, error) { return &Record{AccessToken: secret.New("two")}, boom })
		wantErr(t, err, boom)
		if got, _ := v.Get(ctx, testAcct); got.AccessToken.Reveal() != "one" {
			t.Fatal("a failed callback's result was written")
		}
	})
	t.Run("nil deletes", func(t *testing.T) {
		v, _ := openMem(t)
		mustUpdate(t, v, testAcct, fakeRecord())
		mustUpdate(t, v, testAcct, nil)
		testkit.WantIs(t, testkit.ErrOf(v.Get(ctx, testAcct)), ErrNotFound, "Get after delete")
	})
	t.Run("unchanged is not rewritten", func(t *testing.T) {
		v, _ := openMem(t)
		mustUpdate(t, v, testAcct, fakeRecord())
		before, _ := os.Stat(v.path(fileTokens))
		testkit.NoErr(t, v.Update(ctx, testAcct, func(cur *Record) (*Record, error) { return cur, nil }))
		after, _ := os.Stat(v.path(fileTokens))
		if !os.SameFile(before, after) {
			t.Fatal("an unchanged record caused a rewrite")
		}
	})
	t.Run("callback gets a copy", func(t *testing.T) {
		v, _ := openMem(t)
		mustUpdate(t, v, testAcct, fakeRecord())
		v.Update(ctx, testAcct, func(cur *Record) (*Record, error) {
			cur.Scopes[0] = "mutated"
			cur.Registration.ClientID = "mutated"
			return nil, errors.New("abort")
		})
		got, _ := v.Get(ctx, testAcct)
		if got.Scopes[0] == "mutated" || got.Registration.ClientID == "mutated" {
			t.Fatal("callback mutated stored state")
		}
	})
	t.Run("account needs issuer", func(t *testing.T) {
		v, _ := openMem(t)
		if err := v.Update(ctx, Account{}, setAccess("x")); err == nil {
			t.Fatal("want an error for an empty account")
		}
	})
}

// Update holds the lock across its callback (where the refresh call runs):
// another operation waits for it.
func TestUpdateHoldsLockAcrossCallback(t *testing.T) {
	v, _ := openMem(t)
	v2 := mustOpen(t, Options{Dir: v.Dir(), Keychain: v.kc})
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- v.Update(context.Background(), testAcct, func(*Record) (*Record, error) {
			close(inside)
			<-release
			return &Record{AccessToken: secret.New("refreshed")}, nil
		})
	}()
	<-inside
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	testkit.WantIs(t, testkit.ErrOf(v2.Get(ctx, testAcct)), context.DeadlineExceeded, "Get during another Update's callback (want to wait)")
	close(release)
	testkit.NoErr(t, <-done)
	if got, err := v2.Get(context.Background(), testAcct); err != nil || got.AccessToken.Reveal() != "refreshed" {
		t.Fatalf("Get after = %v, %v", got.AccessToken.Reveal(), err)
	}
}

// tokens.age is an age file, and no token or key byte is in plaintext
// anywhere under the data directory.
func TestTokensEncryptedAtRest(t *testing.T) {
	v, kc := openMem(t)
	rec := fakeRecord()
	mustUpdate(t, v, testAcct, rec)
	key, _ := kc.Get(context.Background(), keychainAccount(mustMeta(t, v).ID))
	assertEncryptedAtRest(t, v.Dir(), []string{
		rec.AccessToken.Reveal(), rec.RefreshToken.Reveal(), rec.Registration.ClientSecret.Reveal(), key.Reveal(),
	})
}

func mustMeta(t *testing.T, v *Vault) *meta {
	t.Helper()
	m, err := v.readMeta()
	if err != nil || m == nil {
		t.Fatalf("readMeta = %v, %v", m, err)
	}
	return m
}

func assertEncryptedAtRest(t *testing.T, dir string, secrets []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, fileTokens))
	testkit.NoErr(t, err)
	if !bytes.HasPrefix(b, []byte("age-encryption.org/v1\n")) {
		t.Fatalf("tokens.age does not start with the age header: %q", b[:min(len(b), 30)])
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		content, err := os.ReadFile(p)
		testkit.NoErr(t, err)
		for _, s := range secrets {
			if s == "" {
				t.Fatal("empty secret in test")
			}
			// Any 8-byte window of a secret counts as a leak.
			for i := 0; i+8 <= len(s); i++ {
				if bytes.Contains(content, []byte(s[i:i+8])) {
					t.Fatalf("%s contains plaintext secret bytes", p)
				}
			}
		}
		return nil
	})
}

func TestSecretsNeverPrint(t *testing.T) {
	rec := fakeRecord()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("rec", "record", rec, "value", *rec)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("rec", "record", *rec)
	j, _ := json.Marshal(rec)
	buf.Write(j)
	wrapper := struct{ R *Record }{rec}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%t"} {
		fmt.Fprintf(&buf, verb, *rec)
		fmt.Fprintf(&buf, verb, rec)
		fmt.Fprintf(&buf, verb, wrapper)
		fmt.Fprintf(&buf, verb, []*Record{rec})
		fmt.Fprintf(&buf, verb, rec.Registration)
		fmt.Fprintf(&buf, verb, *rec.Registration)
		fmt.Fprintf(&buf, verb, rec.AccessToken)
	}
	out := buf.String()
	for _, s := range []secret.Value{rec.AccessToken, rec.RefreshToken, rec.Registration.ClientSecret} {
		if strings.Contains(out, s.Reveal()) {
			t.Fatalf("a secret was printed: %s", out)
		}
	}
	if !strings.Contains(out, secret.Redacted) {
		t.Fatal("expected REDACTED in output")
	}
}
