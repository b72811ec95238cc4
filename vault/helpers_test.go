package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/faultfs"
)

// Helper processes: the test binary re-executes itself with
// VAULT_TEST_HELPER set to run one of these instead of the tests.
func TestMain(m *testing.M) {
	switch h := os.Getenv("VAULT_TEST_HELPER"); h {
	case "":
		os.Exit(m.Run())
	default:
		if err := runHelper(h); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

func runHelper(name string) error {
	ctx := context.Background()
	opts := Options{Dir: os.Getenv("VAULT_TEST_DIR"), KeySpec: os.Getenv("VAULT_TEST_KEYSPEC")}
	if svc := os.Getenv("VAULT_TEST_SERVICE"); svc != "" {
		opts.Keychain = &OSKeychain{Service: svc}
	}
	v, err := Open(ctx, opts)
	if err != nil {
		return err
	}
	switch name {
	case "count": // increment the counter N times
		n, _ := strconv.Atoi(os.Getenv("VAULT_TEST_N"))
		for range n {
			if err := v.Update(ctx, testAcct, increment); err != nil {
				return err
			}
		}
		return nil
	case "crash": // die between writing the temp file and renaming it
		v.beforeRename = func() {
			p, _ := os.FindProcess(os.Getpid())
			p.Kill()
			select {}
		}
		return v.Update(ctx, testAcct, setAccess(os.Getenv("VAULT_TEST_TOKEN")))
	case "crash-keyfile": // die between writing a new key file's temp file and linking it
		v.beforeKeyCommit = func() {
			p, _ := os.FindProcess(os.Getpid())
			p.Kill()
			select {}
		}
		return v.Update(ctx, testAcct, setAccess(os.Getenv("VAULT_TEST_TOKEN")))
	case "write": // store a token set
		return v.Update(ctx, testAcct, setAccess(os.Getenv("VAULT_TEST_TOKEN")))
	}
	return fmt.Errorf("unknown helper %q", name)
}

// helperCmd is this test binary as helper process name, with env added
// to the test's environment.
func helperCmd(t *testing.T, name string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	testkit.NoErr(t, err)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "VAULT_TEST_HELPER="+name), env...)
	return cmd
}

// helper starts helper process name, its output going to the test's stderr.
func helper(t *testing.T, name string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := helperCmd(t, name, env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	testkit.NoErr(t, cmd.Start())
	return cmd
}

// waitHelper returns how a started helper process ended.
func waitHelper(t *testing.T, cmd *exec.Cmd) *os.ProcessState {
	t.Helper()
	if err := cmd.Wait(); cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return cmd.ProcessState
}

var testAcct = Account{Issuer: "https://auth.example.test", Resource: "https://mcp.example.test/mcp"}

func increment(cur *Record) (*Record, error) {
	n := 0
	if cur != nil {
		n, _ = strconv.Atoi(cur.AccessToken.Reveal())
	} else {
		cur = &Record{TokenType: "Bearer"}
	}
	cur.AccessToken = secret.New(strconv.Itoa(n + 1))
	return cur, nil
}

func setAccess(tok string) func(*Record) (*Record, error) {
	return func(*Record) (*Record, error) {
		return &Record{AccessToken: secret.New(tok), TokenType: "Bearer"}, nil
	}
}

// fakeToken returns an obviously fake, unique token string.
func fakeToken(kind string) string {
	var b [12]byte
	rand.Read(b[:])
	return "fake-" + kind + "-" + hex.EncodeToString(b[:])
}

func fakeRecord() *Record {
	return &Record{
		AccessToken:  secret.New(fakeToken("access")),
		RefreshToken: secret.New(fakeToken("refresh")),
		TokenType:    "Bearer",
		Scopes:       []string{"mcp:tools", "offline_access"},
		Subject:      "user-123",
		Expiry:       time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		SignedIn:     time.Date(2029, 6, 1, 0, 0, 0, 0, time.UTC),
		Registration: &Registration{
			ClientID:     "dyn-client-1",
			ClientSecret: secret.New(fakeToken("client-secret")),
			RedirectURIs: []string{"http://127.0.0.1/callback"},
			IssuedAt:     time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC),
		},
	}
}

// newDir returns a fresh, not yet existing data directory.
func newDir(t testing.TB) string { return filepath.Join(t.TempDir(), "data") }

// mustOpen opens a vault with opts.
func mustOpen(t testing.TB, opts Options) *Vault {
	t.Helper()
	v, err := Open(context.Background(), opts)
	testkit.NoErr(t, err)
	return v
}

// openMem opens a vault in a new directory with an in-memory keychain.
func openMem(t *testing.T) (*Vault, *MemKeychain) {
	t.Helper()
	kc := NewMemKeychain()
	return mustOpen(t, Options{Dir: newDir(t), Keychain: kc}), kc
}

// wantOnlyLock fails unless dir holds the lock file only (and a fault
// test's filler).
func wantOnlyLock(t *testing.T, dir, what string) {
	t.Helper()
	names := slices.DeleteFunc(testkit.DirNames(t, dir), func(n string) bool { return n == faultfs.FillerName })
	if !slices.Equal(names, []string{fileLock}) {
		t.Fatalf("%s: the data directory holds %v, want only the lock file", what, names)
	}
}

// keyFile writes a fresh age identity file (0600) and returns its spec.
func keyFile(t testing.TB) (spec string, id *age.X25519Identity) {
	t.Helper()
	id, _ = age.GenerateX25519Identity()
	content := "# created: test\n# public key: " + id.Recipient().String() + "\n" + id.String() + "\n"
	return "file:" + testkit.WriteTemp(t, "vault-key.txt", content, 0o600), id
}

func mustUpdate(t testing.TB, v *Vault, acct Account, r *Record) {
	t.Helper()
	testkit.NoErr(t, v.Update(context.Background(), acct, func(*Record) (*Record, error) { return r, nil }))
}

func wantErr(t *testing.T, err error, targets ...error) {
	t.Helper()
	for _, target := range targets {
		testkit.WantIs(t, err, target, "vault error")
	}
}

func setAccessRecord(tok string) *Record {
	r, _ := setAccess(tok)(nil)
	return r
}

// keychainRoundTrip stores, reads, replaces and deletes an item in the
// real keychain under k's service, which it empties before and after.
func keychainRoundTrip(t *testing.T, k *OSKeychain) {
	t.Helper()
	ctx := context.Background()
	t.Cleanup(func() { k.DeleteAll(ctx) })
	testkit.NoErr(t, k.DeleteAll(ctx), "DeleteAll before the test")
	testkit.WantIs(t, testkit.ErrOf(k.Get(ctx, "missing")), ErrNotFound, "Get(missing)")
	testkit.NoErr(t, k.Set(ctx, "a", secret.New("fake-value-1")))
	testkit.NoErr(t, k.Set(ctx, "a", secret.New("fake-value-2")), "Set replacing an item")
	if v, err := k.Get(ctx, "a"); err != nil || v.Reveal() != "fake-value-2" {
		t.Fatalf("Get after replace: err %v, value is the replacement: %v", err, err == nil && v.Reveal() == "fake-value-2")
	}
	testkit.NoErr(t, k.DeleteAll(ctx))
	testkit.WantIs(t, testkit.ErrOf(k.Get(ctx, "a")), ErrNotFound, "Get after DeleteAll")
	testkit.NoErr(t, k.DeleteAll(ctx), "DeleteAll with no items")
}
