package vault

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// keychainCallsFail checks that Get, Set and DeleteAll of k each fail with
// want within limit.
func keychainCallsFail(t *testing.T, k *OSKeychain, limit time.Duration, want error) {
	t.Helper()
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"get":       func() error { _, err := k.Get(ctx, "a"); return err },
		"set":       func() error { return k.Set(ctx, "a", secret.New("fake")) },
		"deleteall": func() error { return k.DeleteAll(ctx) },
	} {
		start := time.Now()
		err := call()
		if d := time.Since(start); d > limit {
			t.Errorf("%s took %v, want under %v", name, d, limit)
		}
		wantErr(t, err, want)
	}
}

// TestOSKeychainTimeoutIsLocked: a backend that never answers (a locked
// keyring waiting for an unlock dialog nobody will see) is ErrLocked after
// the timeout.
func TestOSKeychainTimeoutIsLocked(t *testing.T) {
	be := &silentKeyring{release: make(chan struct{})}
	be.silent.Store(true)
	defer close(be.release)
	keychainCallsFail(t, &OSKeychain{Timeout: 150 * time.Millisecond, backend: be, busCheck: func() error { return nil }}, time.Second, ErrLocked)
}

func TestMapKeyringError(t *testing.T) {
	tests := []struct {
		in   error
		want error
	}{
		{keyring.ErrNotFound, ErrNotFound},
		{keyring.ErrUnsupportedPlatform, ErrUnavailable},
		{fmt.Errorf("failed to unlock correct collection '/x'"), ErrLocked},
	}
	for _, tt := range tests {
		testkit.ExpectIs(t, mapKeyringError("get", tt.in), tt.want, "mapKeyringError(%v)", tt.in)
	}
	if err := mapKeyringError("get", errors.New("other")); errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown error must not look unavailable (that would allow a fallback): %v", err)
	}
}
