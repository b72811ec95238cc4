package vault

import (
	"context"
	"fmt"
	"sync"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// MemKeychain is an in-memory Keychain for tests. Setting Err (with SetErr)
// makes every call fail with it, to simulate an unavailable or locked
// keychain.
type MemKeychain struct {
	mu    sync.Mutex
	items map[string]secret.Value
	err   error
}

var _ Keychain = (*MemKeychain)(nil)

// NewMemKeychain returns an empty MemKeychain.
func NewMemKeychain() *MemKeychain { return &MemKeychain{items: map[string]secret.Value{}} }

// SetErr makes every later call return err (nil restores normal behaviour).
func (m *MemKeychain) SetErr(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}

// Len returns the number of items.
func (m *MemKeychain) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items)
}

func (m *MemKeychain) Get(_ context.Context, account string) (secret.Value, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return secret.Value{}, m.err
	}
	v, ok := m.items[account]
	if !ok {
		return secret.Value{}, fmt.Errorf("vault: keychain get: %w", ErrNotFound)
	}
	return v, nil
}

func (m *MemKeychain) Set(_ context.Context, account string, v secret.Value) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.items[account] = v
	return nil
}

func (m *MemKeychain) DeleteAll(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	clear(m.items)
	return nil
}
