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

// The no-keychain error names the cause in a few words: no session bus,
// or a bus without a Secret Service.
func TestUnavailableWhy(t *testing.T) {
	k := &OSKeychain{busCheck: sessionBusCheck}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
	_, noBus := k.Get(t.Context(), "x")
	for _, tt := range []struct {
		err  error
		want string
	}{
		{noBus, "no D-Bus session bus"},
		{mapKeyringError("get", dbus.Error{Name: "org.freedesktop.DBus.Error.ServiceUnknown"}), "no Secret Service on the D-Bus session bus"},
		{mapKeyringError("get", &dbus.Error{Name: "org.freedesktop.DBus.Error.NameHasNoOwner"}), "no Secret Service on the D-Bus session bus"},
		{errUnavailable(), ""},
	} {
		testkit.ExpectIs(t, tt.err, ErrUnavailable, "%v", tt.err)
		if got := unavailableWhy(tt.err); got != tt.want {
			t.Errorf("unavailableWhy(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
