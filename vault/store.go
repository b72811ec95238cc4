package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"filippo.io/age"

	"github.com/keyrelay/keyrelay/platform"
)

// maxTokensFile bounds tokens.age; a real one is a few KiB.
const maxTokensFile = 8 << 20

// load reads vault.json and tokens.age under the lock. A missing vault is an
// empty state and a nil meta. The key is loaded only if tokens.age exists.
// Unusable files are moved aside and reported as *CorruptError.
func (v *Vault) load(ctx context.Context) (*meta, state, error) {
	m, err := v.readMeta()
	if err != nil {
		return nil, nil, err
	}
	if m == nil {
		return nil, state{}, v.strayFiles()
	}
	ciphertext, err := platform.ReadFile(v.path(fileTokens), maxTokensFile)
	if errors.Is(err, fs.ErrNotExist) {
		return m, state{}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("vault: %w", err)
	}
	key, err := v.identity(ctx, m)
	if errors.Is(err, ErrKeyLost) || errors.Is(err, ErrCorrupt) {
		return nil, nil, v.corrupt(fileTokens, err, fileTokens, fileMeta, fileKey)
	}
	if err != nil {
		return nil, nil, err
	}
	st, err := decryptState(ciphertext, key)
	if err != nil {
		return nil, nil, v.corrupt(fileTokens, err, fileTokens)
	}
	return m, st, nil
}

// readMeta returns nil, nil if vault.json does not exist.
func (v *Vault) readMeta() (*meta, error) {
	b, err := platform.ReadFile(v.path(fileMeta), maxKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	m, err := decodeMeta(b)
	if err != nil {
		return nil, v.corrupt(fileMeta, err, fileMeta, fileTokens, fileKey)
	}
	return m, nil
}

// peekMeta reads vault.json like readMeta, but leaves an unusable one in
// place: for Status and Wipe, which never move files aside.
func (v *Vault) peekMeta() (*meta, error) {
	b, err := platform.ReadFile(v.path(fileMeta), maxKeyFile)
	if err != nil {
		return nil, err
	}
	return decodeMeta(b)
}

// strayFiles handles files without a vault.json: tokens.age cannot be
// trusted or decrypted, so it is moved aside with an error; a lone key.age
// (a first login that crashed) is moved aside quietly.
func (v *Vault) strayFiles() error {
	if exists(v.path(fileTokens)) {
		return v.corrupt(fileTokens, errors.New("vault.json is missing"), fileTokens, fileKey)
	}
	if exists(v.path(fileKey)) {
		moved, err := v.moveAside(fileKey)
		if err != nil {
			return err
		}
		v.log.Warn("vault: key.age without vault.json moved aside", "to", moved)
	}
	return nil
}

// corrupt moves names aside and returns the *CorruptError for file; a
// file a newer relay wrote is left in place instead (*NewerError).
func (v *Vault) corrupt(file string, cause error, names ...string) error {
	if ne, ok := errors.AsType[*NewerError](cause); ok {
		return &NewerError{File: file, Reason: ne.Reason}
	}
	moved, err := v.moveAside(names...)
	ce := &CorruptError{File: file, MovedTo: moved, Err: cause}
	if err != nil {
		return errors.Join(ce, err)
	}
	v.log.Warn("vault: unusable vault file moved aside", "file", file, "to", moved)
	return ce
}

// moveAside renames each existing file to NAME.corrupt-TIMESTAMP, never
// replacing anything.
func (v *Vault) moveAside(names ...string) ([]string, error) {
	stamp := v.now().UTC().Format("20060102T150405Z")
	var moved []string
	for _, name := range names {
		if !exists(v.path(name)) {
			continue
		}
		dst := v.path(name + corruptInfix + stamp)
		for i := 1; exists(dst); i++ {
			dst = v.path(fmt.Sprintf("%s%s%s-%d", name, corruptInfix, stamp, i))
		}
		if err := os.Rename(v.path(name), dst); err != nil {
			return moved, fmt.Errorf("vault: move %s aside: %w", name, err)
		}
		moved = append(moved, dst)
	}
	return moved, nil
}

const corruptInfix = ".corrupt-"

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// decryptState decrypts and decodes tokens.age. Errors never contain the
// content.
func decryptState(ciphertext []byte, key age.Identity) (state, error) {
	r, err := age.Decrypt(bytes.NewReader(ciphertext), key)
	if err != nil {
		return nil, errors.New("cannot decrypt (not an age file for this vault's key, or damaged)")
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxTokensFile))
	if err != nil {
		return nil, errors.New("decryption failed (damaged or truncated)")
	}
	return decodeState(plain)
}

// writeTokens encrypts st to key and atomically replaces tokens.age.
func (v *Vault) writeTokens(st state, key *age.X25519Identity) error {
	plain, err := encodeState(st)
	if err != nil {
		return fmt.Errorf("vault: encode: %w", err)
	}
	f, err := platform.CreateAtomic(v.path(fileTokens))
	if err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	defer f.Abort()
	w, err := age.Encrypt(f, key.Recipient())
	if err != nil {
		return fmt.Errorf("vault: encrypt: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return fmt.Errorf("vault: write tokens: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("vault: write tokens: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	if v.beforeRename != nil {
		v.beforeRename()
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	return nil
}
