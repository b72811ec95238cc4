package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"filippo.io/age"

	"github.com/keyrelay/keyrelay/platform"
)

// identity returns the key of the vault described by m, from the cache or
// from the recorded key source, and checks it against the recorded
// recipient.
func (v *Vault) identity(ctx context.Context, m *meta) (*age.X25519Identity, error) {
	v.mu.Lock()
	c := v.cache
	v.mu.Unlock()
	if c != nil && c.id == m.ID && c.recipient == m.Recipient {
		return c.key, nil
	}
	src, err := v.recordedSource(m.KeySource)
	if err != nil {
		return nil, err
	}
	key, err := src.load(ctx, m.ID)
	if err != nil {
		return nil, err
	}
	if key.Recipient().String() != m.Recipient {
		return nil, fmt.Errorf("%w: the %s key source returned a different key than the one recorded in vault.json; run relay logout to start over", ErrWrongKey, m.KeySource)
	}
	v.remember(m, key)
	return key, nil
}

func (v *Vault) remember(m *meta, key *age.X25519Identity) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.cache = &cachedKey{id: m.ID, recipient: m.Recipient, key: key}
}

func (v *Vault) forget() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.cache = nil
}

// recordedSource returns the source vault.json names. RELAY_VAULT_KEY may
// repeat it (and must, for file: and cmd:, which need a path or command) but
// may not name another kind: the vault never migrates silently.
func (v *Vault) recordedSource(kind Kind) (keySource, error) {
	if v.opts.RequireKeychain && kind != KindKeychain {
		return nil, fmt.Errorf("%w: this vault was created with key source %q, but the administrator's policy requires the OS keychain; run relay logout to start a new vault", ErrKeySource, kind)
	}
	if v.spec.kind != "" && v.spec.kind != kind {
		return nil, fmt.Errorf("%w: this vault was created with key source %q but RELAY_VAULT_KEY selects %q; unset it, or run relay logout to start a new vault", ErrKeySource, kind, v.spec.kind)
	}
	if (kind == KindFile || kind == KindCommand) && v.spec.kind == "" {
		return nil, fmt.Errorf("%w: this vault was created with key source %q; set RELAY_VAULT_KEY=%s:... as at first login", ErrKeySource, kind, kind)
	}
	return v.source(kind), nil
}

// source builds the key source of kind from the options.
func (v *Vault) source(kind Kind) keySource {
	switch kind {
	case KindFile:
		return fileSource{path: v.spec.arg, notify: v.notify, beforeCommit: v.beforeKeyCommit}
	case KindCommand:
		return cmdSource{line: v.spec.arg, timeout: v.opts.CommandTimeout}
	case KindPassphrase:
		return &passphraseSource{keyPath: v.path(fileKey), file: v.opts.PassphraseFile,
			prompt: v.opts.Prompt, workFactor: v.opts.ScryptWorkFactor}
	}
	return keychainSource{kc: v.kc}
}

// create makes a new vault: it chooses a key source, gets or makes the key,
// then records the choice in vault.json. Called under the lock, on the
// first write only.
func (v *Vault) create(ctx context.Context) (*age.X25519Identity, error) {
	id := newID()
	src, key, err := v.chooseAndCreate(ctx, id)
	if err != nil {
		return nil, err
	}
	m := newMeta(src.kind(), id, key, v.now())
	b, err := encodeMeta(m)
	if err != nil {
		return nil, fmt.Errorf("vault: encode vault.json: %w", err)
	}
	if err := platform.WriteFileAtomic(v.path(fileMeta), b); err != nil {
		return nil, fmt.Errorf("vault: write vault.json: %w", err)
	}
	v.log.Info("vault: created", "dir", v.dir, "key_source", string(m.KeySource))
	v.remember(m, key)
	return key, nil
}

// chooseAndCreate applies the selection rules: an explicit RELAY_VAULT_KEY
// wins; otherwise the OS keychain; if (and only if) the keychain is
// unavailable, the passphrase source when RELAY_VAULT_PASSPHRASE_FILE is
// configured; otherwise fail closed.
func (v *Vault) chooseAndCreate(ctx context.Context, id string) (keySource, *age.X25519Identity, error) {
	if v.spec.kind != "" {
		src := v.source(v.spec.kind)
		key, err := src.create(ctx, id)
		return src, key, err
	}
	src := v.source(KindKeychain)
	key, err := src.create(ctx, id)
	if err == nil || !errors.Is(err, ErrUnavailable) {
		return src, key, err // success, or locked/failed: never a reason to fall back
	}
	if v.opts.PassphraseFile == "" {
		return nil, nil, v.noKeySource(err)
	}
	v.log.Warn("vault: OS keychain unavailable; using a passphrase-wrapped key (RELAY_VAULT_PASSPHRASE_FILE is set)", "reason", err.Error())
	src = v.source(KindPassphrase)
	key, err = src.create(ctx, id)
	return src, key, err
}

// noKeySource is the error of a first login with no keychain (err) and
// nothing else configured. Tokens are never stored unencrypted.
func (v *Vault) noKeySource(err error) *NoKeySourceError {
	return &NoKeySourceError{Why: unavailableWhy(err), KeyFile: v.suggestedKeyFile(), Err: err}
}

// suggestedKeyFile is where the no-keychain error suggests a key file:
// SuggestedKeyFile in the home directory; in the data directory (which
// exists and is the user's own) only when there is no home directory.
func (v *Vault) suggestedKeyFile() string {
	if home, err := os.UserHomeDir(); err == nil && filepath.IsAbs(home) {
		return filepath.Join(home, SuggestedKeyFile)
	}
	return v.path(SuggestedKeyFile)
}
