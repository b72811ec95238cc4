package vault

import (
	"context"
	"errors"
	"fmt"

	"filippo.io/age"
)

// keychainSource keeps the vault key in a Keychain item named after the
// vault id, so vaults in different data directories do not collide.
type keychainSource struct{ kc Keychain }

var _ keySource = keychainSource{}

func keychainAccount(id string) string { return "vault-key-" + id }

func (keychainSource) kind() Kind { return KindKeychain }

func (s keychainSource) load(ctx context.Context, id string) (*age.X25519Identity, error) {
	v, err := s.kc.Get(ctx, keychainAccount(id))
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: no keychain item %q", ErrKeyLost, keychainAccount(id))
	}
	if err != nil {
		return nil, err
	}
	return parseIdentity("keychain item", []byte(v.Reveal()))
}

// create generates a key, stores it and reads it back, so a keychain that
// accepts writes it cannot return fails now rather than after tokens exist.
func (s keychainSource) create(ctx context.Context, id string) (*age.X25519Identity, error) {
	key, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("vault: generate key: %w", err)
	}
	if err := s.kc.Set(ctx, keychainAccount(id), identitySecret(key)); err != nil {
		return nil, err
	}
	got, err := s.load(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("vault: keychain read-back: %w", err)
	}
	if got.String() != key.String() {
		return nil, fmt.Errorf("vault: keychain read-back returned a different key: %w", ErrWrongKey)
	}
	return key, nil
}
