package vault

import (
	"errors"
	"testing"

	"github.com/godbus/dbus/v5"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestClassifyDBusErrors(t *testing.T) {
	tests := []struct {
		name string
		want error
	}{
		{"org.freedesktop.DBus.Error.ServiceUnknown", ErrUnavailable},
		{"org.freedesktop.DBus.Error.NoReply", ErrLocked},
		{"org.freedesktop.Secret.Error.IsLocked", ErrLocked},
		{"org.example.Other", nil},
	}
	for _, tt := range tests {
		err := mapKeyringError("get", dbus.Error{Name: tt.name})
		if tt.want == nil {
			if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrLocked) {
				t.Errorf("%s classified as %v", tt.name, err)
			}
			continue
		}
		testkit.ExpectIs(t, err, tt.want, "%s", tt.name)
	}
}
