package vault

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/keyrelay/keyrelay/platform"
)

// Names of the files in the data directory.
const (
	fileTokens = "tokens.age"
	fileKey    = "key.age"
	fileMeta   = "vault.json"
	fileLock   = "vault.lock"
)

// Vault is the token vault in one data directory. It is safe for concurrent
// use by goroutines and by processes: every operation holds an exclusive
// lock on vault.lock and re-reads the files under it.
type Vault struct {
	dir  string
	spec keySpec
	opts Options
	kc   Keychain
	log  *slog.Logger
	now  func() time.Time

	mu    sync.Mutex // guards cache
	cache *cachedKey

	// beforeRename, if set, runs between syncing the new tokens.age and
	// renaming it into place. Tests use it to simulate a crash.
	beforeRename func()
	// beforeKeyCommit is fileSource.beforeCommit.
	beforeKeyCommit func()
}

// cachedKey is the unwrapped vault key, kept for the life of the Vault so
// that a passphrase is asked, or scrypt paid, once per process.
type cachedKey struct {
	id, recipient string
	key           *age.X25519Identity
}

// Open prepares the vault in opts.Dir: it creates the directory (0700) if
// needed, refuses a symlinked or foreign-owned directory or file, and fixes
// loose modes. It does not read or create the key: that happens on the
// first Get or Update that needs it.
func Open(ctx context.Context, opts Options) (*Vault, error) {
	spec, err := parseKeySpec(opts.KeySpec)
	if err != nil {
		return nil, err
	}
	if opts.RequireKeychain {
		if spec.kind != "" && spec.kind != KindKeychain {
			return nil, fmt.Errorf("%w: RELAY_VAULT_KEY selects %q, but the administrator's policy requires the OS keychain", ErrKeySource, spec.kind)
		}
		spec.kind = KindKeychain // no fallback to a passphrase
	}
	dir := opts.Dir
	if dir == "" {
		if dir, err = platform.DataDir(); err != nil {
			return nil, fmt.Errorf("vault: %w", err)
		}
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("vault: data directory: %w", err)
	}
	v := &Vault{dir: dir, spec: spec, opts: opts, kc: opts.Keychain, log: opts.Logger, now: opts.Now}
	if v.kc == nil {
		v.kc = &OSKeychain{}
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.opts.CommandTimeout <= 0 {
		v.opts.CommandTimeout = DefaultCommandTimeout
	}
	return v, v.checkFiles()
}

// Dir returns the data directory.
func (v *Vault) Dir() string { return v.dir }

// checkFiles enforces the permission rules on the directory and every file
// the vault owns, fixing loose modes and refusing the rest.
func (v *Vault) checkFiles() error {
	fixed, err := platform.EnsureDir(v.dir)
	if err != nil {
		return fmt.Errorf("vault: data directory: %w", err)
	}
	if fixed {
		v.log.Warn("vault: data directory was accessible by others; mode set to 0700", "dir", v.dir)
	}
	for _, name := range []string{fileMeta, fileTokens, fileKey, fileLock} {
		fixed, err := platform.CheckFile(v.path(name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("vault: %w", err)
		}
		if fixed {
			v.log.Warn("vault: file was accessible by others; mode set to 0600", "file", v.path(name))
		}
	}
	return nil
}

func (v *Vault) path(name string) string { return filepath.Join(v.dir, name) }

// lock takes the cross-process lock. The returned func releases it. If
// another process holds the lock, ctx's lock-wait callback (WithLockWait)
// runs while this one waits.
func (v *Vault) lock(ctx context.Context) (func(), error) {
	l, ok, err := platform.TryLock(v.path(fileLock))
	if err == nil && !ok {
		stop := waiting(ctx)
		l, err = platform.Lock(ctx, v.path(fileLock))
		stop()
	}
	if err != nil {
		return nil, fmt.Errorf("vault: lock: %w", err)
	}
	return func() { l.Unlock() }, nil
}

// Get returns the record for acct, or an error wrapping ErrNotFound. It
// needs the key only if tokens.age exists, and never creates one.
func (v *Vault) Get(ctx context.Context, acct Account) (Record, error) {
	unlock, err := v.lock(ctx)
	if err != nil {
		return Record{}, err
	}
	defer unlock()
	_, st, err := v.load(ctx)
	if err != nil {
		return Record{}, err
	}
	r, ok := st[acct]
	if !ok {
		return Record{}, fmt.Errorf("vault: account %s: %w", acct.Issuer, ErrNotFound)
	}
	return *r.clone(), nil
}

// Accounts lists the accounts that have a record.
func (v *Vault) Accounts(ctx context.Context) ([]Account, error) {
	unlock, err := v.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	_, st, err := v.load(ctx)
	if err != nil {
		return nil, err
	}
	accts := make([]Account, 0, len(st))
	for a := range st {
		accts = append(accts, a)
	}
	return accts, nil
}

// Update reads the record for acct and replaces it with what fn returns, all
// under the exclusive cross-process lock. cur is a copy of the stored record,
// or nil if there is none. fn may take its time (a token refresh over the
// network): concurrent Updates in this and other processes wait, so a
// rotating refresh token is never spent twice.
//
// If fn returns an error, nothing is written and Update returns that error.
// If fn returns nil, the record is deleted. If the result equals cur,
// nothing is written. The first write of a new vault creates the vault key
// in the chosen key source.
func (v *Vault) Update(ctx context.Context, acct Account, fn func(cur *Record) (*Record, error)) error {
	if acct.Issuer == "" {
		return errors.New("vault: account has no issuer")
	}
	unlock, err := v.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	m, st, err := v.load(ctx)
	if err != nil {
		return err
	}
	cur := st[acct]
	next, err := fn(cur.clone())
	if err != nil {
		return err
	}
	if sameRecord(acct, cur, next) {
		return nil
	}
	if next == nil {
		delete(st, acct)
	} else {
		n := next.clone()
		n.Updated = v.now().UTC()
		st[acct] = n
	}
	key, err := v.keyFor(ctx, m)
	if err != nil {
		return err
	}
	return v.writeTokens(st, key)
}

// keyFor returns the vault key, creating the vault (key and vault.json) if
// m is nil.
func (v *Vault) keyFor(ctx context.Context, m *meta) (*age.X25519Identity, error) {
	if m != nil {
		return v.identity(ctx, m)
	}
	return v.create(ctx)
}

// Prepare makes sure the vault can store tokens before the caller does
// something costly to get them (an interactive login): it loads the vault
// key, or on first use chooses the key source and creates the key. It
// returns the same errors a first write would.
func (v *Vault) Prepare(ctx context.Context) error {
	unlock, err := v.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	m, _, err := v.load(ctx)
	if err != nil {
		return err
	}
	_, err = v.keyFor(ctx, m)
	return err
}

// Version identifies the current tokens.age without reading or decrypting
// it: its size and modification time, or "" when there is none. A caller
// that keeps a record in memory compares versions to notice a logout or a
// refresh by another process. It takes no lock and costs one stat.
func (v *Vault) Version() string {
	fi, err := os.Stat(v.path(fileTokens))
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%d/%d", fi.ModTime().UnixNano(), fi.Size())
}
