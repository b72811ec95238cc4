package vault

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// DefaultService is the keychain service name of every keyrelay item.
const DefaultService = "keyrelay"

// DefaultKeychainTimeout bounds every OS keychain call.
const DefaultKeychainTimeout = 3 * time.Second

// Keychain is the OS credential store as the vault uses it: small secrets
// under one service name, addressed by account. Implementations are safe for
// concurrent use. Their errors wrap ErrNotFound (no such item),
// ErrUnavailable (no keychain in this session) or ErrLocked (locked, access
// refused or no answer in time); any other error is reported as is and, like
// ErrLocked, never causes a fallback to another key source.
type Keychain interface {
	Get(ctx context.Context, account string) (secret.Value, error)
	Set(ctx context.Context, account string, v secret.Value) error
	// DeleteAll removes every item of the service. No items is not an error.
	DeleteAll(ctx context.Context) error
}

// OSKeychain is the Keychain of the operating system (macOS Keychain,
// Windows Credential Manager, Secret Service on Linux) through
// zalando/go-keyring, made safe to call:
//
//   - On Linux it checks for a session D-Bus first and returns ErrUnavailable
//     without calling the library if there is none, because the library's
//     D-Bus package would otherwise launch a dbus-daemon.
//   - Every call has a timeout; a call that does not return in time (a
//     locked keyring waiting for an unlock dialog) is reported as ErrLocked.
//     The library cannot be cancelled, so the abandoned call's goroutine
//     lingers until the library returns.
//
// The zero value is ready to use.
type OSKeychain struct {
	Service string        // default DefaultService
	Timeout time.Duration // default DefaultKeychainTimeout

	backend  keyringBackend // nil: go-keyring; tests inject a fake
	busCheck func() error   // nil: sessionBusCheck; tests inject
}

var _ Keychain = (*OSKeychain)(nil)

// keyringBackend is the go-keyring API, so tests can make it hang.
type keyringBackend interface {
	Get(service, user string) (string, error)
	Set(service, user, password string) error
	DeleteAll(service string) error
}

type goKeyring struct{}

func (goKeyring) Get(s, u string) (string, error) { return keyring.Get(s, u) }
func (goKeyring) Set(s, u, p string) error        { return keyring.Set(s, u, p) }
func (goKeyring) DeleteAll(s string) error        { return keyring.DeleteAll(s) }

// Get returns the secret stored for account.
func (k *OSKeychain) Get(ctx context.Context, account string) (secret.Value, error) {
	var v string
	err := k.do(ctx, "get", func(b keyringBackend, svc string) (err error) {
		v, err = b.Get(svc, account)
		return err
	})
	return secret.New(v), err
}

// Set stores v for account, replacing any previous value.
func (k *OSKeychain) Set(ctx context.Context, account string, v secret.Value) error {
	return k.do(ctx, "set", func(b keyringBackend, svc string) error {
		return b.Set(svc, account, v.Reveal())
	})
}

// DeleteAll removes every item of the service.
func (k *OSKeychain) DeleteAll(ctx context.Context) error {
	return k.do(ctx, "delete", func(b keyringBackend, svc string) error {
		return b.DeleteAll(svc)
	})
}

func (k *OSKeychain) do(ctx context.Context, op string, call func(keyringBackend, string) error) error {
	check := k.busCheck
	if check == nil {
		check = sessionBusCheck
	}
	if err := check(); err != nil {
		return fmt.Errorf("vault: keychain %s: %w (%w)", op, ErrUnavailable, err)
	}
	b, svc, timeout := k.backend, k.Service, k.Timeout
	if b == nil {
		b = goKeyring{}
	}
	if svc == "" {
		svc = DefaultService
	}
	if timeout <= 0 {
		timeout = DefaultKeychainTimeout
	}
	done := make(chan error, 1) // buffered: an abandoned call must not block
	go func() { done <- call(b, svc) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return mapKeyringError(op, err)
	case <-t.C:
		return fmt.Errorf("vault: keychain %s: no answer within %v (is it locked?): %w", op, timeout, ErrLocked)
	case <-ctx.Done():
		return fmt.Errorf("vault: keychain %s: %w", op, ctx.Err())
	}
}

// mapKeyringError converts go-keyring and D-Bus errors at the boundary.
// Their messages carry no secret values.
func mapKeyringError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, keyring.ErrNotFound):
		return fmt.Errorf("vault: keychain %s: %w", op, ErrNotFound)
	case errors.Is(err, keyring.ErrUnsupportedPlatform):
		return fmt.Errorf("vault: keychain %s: %w (%w)", op, ErrUnavailable, errUnsupportedOS)
	case errors.Is(err, keyring.ErrSetDataTooBig):
		return fmt.Errorf("vault: keychain %s: value too big", op)
	case strings.Contains(err.Error(), "failed to unlock"): // go-keyring: unlock prompt dismissed
		return fmt.Errorf("vault: keychain %s: unlock refused: %w", op, ErrLocked)
	}
	if class := classifyPlatformError(err); class != nil {
		return fmt.Errorf("vault: keychain %s: %w (%w)", op, class, err)
	}
	return fmt.Errorf("vault: keychain %s: %w", op, err)
}

var errUnsupportedOS = errors.New("not supported on this OS")

// unavailableWhy says in a few words why the keychain is unavailable, for
// the no-keychain error; "" if it cannot tell.
func unavailableWhy(err error) string {
	if errors.Is(err, errUnsupportedOS) {
		return errUnsupportedOS.Error()
	}
	return platformWhy(err)
}
