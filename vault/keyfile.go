package vault

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/keyrelay/keyrelay/platform"
)

// maxKeyFile bounds what is read from a key file or key command.
const maxKeyFile = 64 << 10

// SuggestedKeyFile is the name of the key file the no-keychain error
// suggests, in the home directory: a directory of the user's own that
// exists, so the first login can create the file there, and outside the
// data directory, so a copy of that directory alone does not carry the key
// (see describe). The README suggests the same path.
const SuggestedKeyFile = ".keyrelay-key"

// fileSource reads the vault key from an age identity file
// (RELAY_VAULT_KEY=file:PATH). The file is refused if it is a symlink, owned
// by someone else, or readable by group or other.
//
// At the first login (create) a missing file is made: a new identity,
// written whole and synced to a temporary file (0600) in PATH's directory,
// then linked to PATH, so PATH never holds a partial key and an existing
// file is never replaced. Only in a directory that exists, is the user's
// own and is not writable by group or other (who could swap the file),
// and only at an absolute path (serve's working directory is not the
// user's choice). The vault never overwrites or deletes the file.
type fileSource struct {
	path string
	// notify tells the person about a new key file (Vault.notify).
	notify func(ctx context.Context, msg string)
	// beforeCommit, if set, runs between syncing a new key's temporary
	// file and linking it into place. Tests use it to simulate a crash.
	beforeCommit func()
}

var _ keySource = fileSource{}

func (fileSource) kind() Kind { return KindFile }

// load reads the key of an existing vault: a missing file is an error,
// never a reason to make a new key.
func (s fileSource) load(context.Context, string) (*age.X25519Identity, error) {
	key, err := s.read()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: key file %s does not exist; this vault's key was in it: restore the file, or run relay logout to start a new vault", ErrKeySource, s.path)
	}
	return key, err
}

// create uses the user's key file, or makes one if there is none.
func (s fileSource) create(ctx context.Context, _ string) (*age.X25519Identity, error) {
	key, err := s.read()
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	return s.generate(ctx)
}

// read parses the key file; a missing file is an error wrapping
// fs.ErrNotExist (a dangling symlink is refused, not missing).
func (s fileSource) read() (*age.X25519Identity, error) {
	b, err := platform.ReadSecretFile(s.path, maxKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("vault: key file: %w", err)
	}
	return parseIdentity("key file "+s.path, b)
}

// canCreate says why no key file could be made at the path now, or nil.
// Errors wrap ErrKeySource (a relative path, a missing directory) or
// ErrInsecure (the directory is another user's, or writable by others).
func (s fileSource) canCreate() error {
	if !filepath.IsAbs(s.path) {
		return fmt.Errorf("%w: key file %s does not exist, and a new one is made only at an absolute path", ErrKeySource, s.path)
	}
	dir := filepath.Dir(s.path)
	err := platform.CheckOwnDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: key file %s does not exist, nor does its directory; create it (mkdir -m 700 %s) or choose another path", ErrKeySource, s.path, dir)
	}
	if err != nil {
		return fmt.Errorf("vault: cannot create key file %s: %w", s.path, err)
	}
	return nil
}

// generate makes a new key file at the path. If another process made one
// meanwhile, that one is used.
func (s fileSource) generate(ctx context.Context) (*age.X25519Identity, error) {
	if err := s.canCreate(); err != nil {
		return nil, err
	}
	key, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("vault: generate key: %w", err)
	}
	removeTemps(s.path)
	f, err := platform.CreateAtomic(s.path)
	if err != nil {
		return nil, fmt.Errorf("vault: new key file %s: %w", s.path, err)
	}
	defer f.Abort()
	content := fmt.Sprintf("# keyrelay vault key; without it the vault cannot be read\n# created: %s\n# public key: %s\n%s\n",
		time.Now().UTC().Format(time.RFC3339), key.Recipient(), identitySecret(key).Reveal())
	if _, err := f.Write([]byte(content)); err != nil {
		return nil, fmt.Errorf("vault: new key file %s: %w", s.path, err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("vault: new key file %s: %w", s.path, err)
	}
	if s.beforeCommit != nil {
		s.beforeCommit()
	}
	if err := f.CommitNew(); errors.Is(err, fs.ErrExist) {
		return s.read()
	} else if err != nil {
		return nil, fmt.Errorf("vault: new key file %s: %w", s.path, err)
	}
	if s.notify != nil {
		s.notify(ctx, fmt.Sprintf("created a new vault key at %s (mode 0600); keep it safe: without it the vault cannot be read", s.path))
	}
	return key, nil
}

// removeTemps removes the temporary files of key files that a crash
// left behind in path's directory: each holds a key that was never used.
func removeTemps(path string) {
	dir, base := filepath.Split(path)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if n := e.Name(); platform.IsAtomicTemp(n) && strings.HasPrefix(n, "."+base+".tmp-") {
			os.Remove(filepath.Join(dir, n))
		}
	}
}

// expandHome turns a leading "~/" into the home directory: a file: path
// in a configuration that no shell expands (Claude Code's) still names the
// file the person means.
func expandHome(p string) string {
	rest, ok := strings.CutPrefix(p, "~/")
	if !ok {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return p
	}
	return filepath.Join(home, rest)
}
