package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/platform"
)

// maxPassphraseFile bounds RELAY_VAULT_PASSPHRASE_FILE.
const maxPassphraseFile = 4 << 10

// passphraseSource keeps the vault key in key.age, encrypted to an age
// scrypt recipient. The passphrase comes from RELAY_VAULT_PASSPHRASE_FILE
// (required by the stdio server, which cannot prompt) or, failing that, from
// the Prompt callback (relay login in a terminal).
type passphraseSource struct {
	keyPath    string // <dir>/key.age
	file       string // RELAY_VAULT_PASSPHRASE_FILE, may be empty
	prompt     func(ctx context.Context, prompt string) (secret.Value, error)
	workFactor int // scrypt log2(N); 0 means age's default
}

var _ keySource = (*passphraseSource)(nil)

func (*passphraseSource) kind() Kind { return KindPassphrase }

func (s *passphraseSource) load(ctx context.Context, _ string) (*age.X25519Identity, error) {
	wrapped, err := platform.ReadFile(s.keyPath, maxKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist", ErrKeyLost, filepath.Base(s.keyPath))
	}
	if err != nil {
		return nil, fmt.Errorf("vault: key file: %w", err)
	}
	pass, err := s.passphrase(ctx, "Vault passphrase", false)
	if err != nil {
		return nil, err
	}
	sid, err := age.NewScryptIdentity(pass.Reveal())
	if err != nil {
		return nil, fmt.Errorf("vault: passphrase: %w", err)
	}
	r, err := age.Decrypt(bytes.NewReader(wrapped), sid)
	var noMatch *age.NoIdentityMatchError
	if errors.As(err, &noMatch) {
		return nil, ErrWrongPassphrase
	}
	if err != nil {
		return nil, &CorruptError{File: filepath.Base(s.keyPath), Err: errors.New("not a passphrase-encrypted age file")}
	}
	b, err := io.ReadAll(io.LimitReader(r, maxKeyFile))
	if err != nil {
		return nil, &CorruptError{File: filepath.Base(s.keyPath), Err: errors.New("decryption failed")}
	}
	return parseIdentity(filepath.Base(s.keyPath), b)
}

func (s *passphraseSource) create(ctx context.Context, _ string) (*age.X25519Identity, error) {
	pass, err := s.passphrase(ctx, "New vault passphrase", true)
	if err != nil {
		return nil, err
	}
	key, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("vault: generate key: %w", err)
	}
	rcp, err := age.NewScryptRecipient(pass.Reveal())
	if err != nil {
		return nil, fmt.Errorf("vault: passphrase: %w", err)
	}
	if s.workFactor > 0 {
		rcp.SetWorkFactor(s.workFactor)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rcp)
	if err != nil {
		return nil, fmt.Errorf("vault: wrap key: %w", err)
	}
	io.WriteString(w, key.String()+"\n")
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("vault: wrap key: %w", err)
	}
	if err := platform.WriteFileAtomic(s.keyPath, buf.Bytes()); err != nil {
		return nil, fmt.Errorf("vault: write key.age: %w", err)
	}
	return key, nil
}

// passphrase reads the passphrase file, or prompts. For a new vault
// (isNew) it refuses a weak passphrase (CheckPassphrase) and asks a
// prompted one twice.
func (s *passphraseSource) passphrase(ctx context.Context, prompt string, isNew bool) (secret.Value, error) {
	if s.file != "" {
		b, err := platform.ReadSecretFile(s.file, maxPassphraseFile)
		if err != nil {
			return secret.Value{}, fmt.Errorf("vault: RELAY_VAULT_PASSPHRASE_FILE: %w", err)
		}
		p, err := nonEmpty(secret.New(strings.TrimRight(string(b), "\r\n")))
		if err == nil && isNew {
			if err = CheckPassphrase(p); err != nil {
				err = fmt.Errorf("%w (the passphrase in RELAY_VAULT_PASSPHRASE_FILE)", err)
			}
		}
		return p, err
	}
	if s.prompt == nil {
		return secret.Value{}, fmt.Errorf("%w: the passphrase key source needs RELAY_VAULT_PASSPHRASE_FILE when it cannot prompt (run relay login in a terminal)", ErrKeySource)
	}
	p, err := s.prompt(ctx, prompt)
	if err != nil {
		return secret.Value{}, fmt.Errorf("vault: passphrase prompt: %w", err)
	}
	if p, err = nonEmpty(p); err != nil || !isNew {
		return p, err
	}
	if err := CheckPassphrase(p); err != nil {
		return secret.Value{}, err
	}
	again, err := s.prompt(ctx, "Repeat the new passphrase")
	if err != nil {
		return secret.Value{}, fmt.Errorf("vault: passphrase prompt: %w", err)
	}
	if !p.Equal(again) {
		return secret.Value{}, fmt.Errorf("%w: the passphrases do not match", ErrKeySource)
	}
	return p, nil
}

func nonEmpty(p secret.Value) (secret.Value, error) {
	if p.IsZero() {
		return secret.Value{}, fmt.Errorf("%w: the passphrase is empty", ErrKeySource)
	}
	return p, nil
}
