//go:build linux || freebsd || netbsd || openbsd || dragonfly

package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/godbus/dbus/v5"
)

// runUserDir is /run/user/<uid>, where systemd puts the user's session bus.
// A variable so tests can point it at an empty directory.
var runUserDir = fmt.Sprintf("/run/user/%d", os.Getuid())

var (
	errNoBus        = errors.New("no D-Bus session bus")
	errNoSessionBus = fmt.Errorf("%w: DBUS_SESSION_BUS_ADDRESS is unset and no bus socket exists", errNoBus)
)

// sessionBusCheck returns nil if a session bus can be reached without
// launching one. It uses DBUS_SESSION_BUS_ADDRESS if set (but never the
// "autolaunch:" transport), else a bus socket in $XDG_RUNTIME_DIR or
// /run/user/<uid>, in which case it sets DBUS_SESSION_BUS_ADDRESS so that
// the D-Bus library connects there instead of autolaunching.
func sessionBusCheck() error {
	if addr := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); addr != "" && !strings.Contains(addr, "autolaunch:") {
		return checkBusAddress(addr)
	}
	for _, dir := range []string{os.Getenv("XDG_RUNTIME_DIR"), runUserDir} {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, "bus")
		if isSocket(p) {
			return os.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+dbus.EscapeBusAddressValue(p))
		}
	}
	return errNoSessionBus
}

// checkBusAddress fails if every transport of addr is a unix:path= socket
// that does not exist. Other transports are left for the library to try.
func checkBusAddress(addr string) error {
	for _, t := range strings.Split(addr, ";") {
		rest, ok := strings.CutPrefix(t, "unix:")
		if !ok {
			return nil
		}
		p := ""
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "path="); ok {
				p, _ = dbus.UnescapeBusAddressValue(v)
			}
		}
		if p == "" || isSocket(p) {
			return nil
		}
	}
	return fmt.Errorf("%w: the socket in DBUS_SESSION_BUS_ADDRESS does not exist", errNoBus)
}

func isSocket(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode()&fs.ModeSocket != 0
}

// noService are the D-Bus errors of a bus without a Secret Service.
var noService = []string{"org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner",
	"org.freedesktop.DBus.Error.UnknownObject", "org.freedesktop.DBus.Error.Spawn.ChildExited"}

// platformWhy: no session bus, or no Secret Service on it.
func platformWhy(err error) string {
	if errors.Is(err, errNoBus) {
		return errNoBus.Error()
	}
	if slices.Contains(noService, dbusName(err)) {
		return "no Secret Service on the D-Bus session bus"
	}
	return ""
}

// dbusName is the name of the D-Bus error in err's chain, or "".
func dbusName(err error) string {
	var derr dbus.Error
	var perr *dbus.Error
	switch {
	case errors.As(err, &perr):
		return perr.Name
	case errors.As(err, &derr):
		return derr.Name
	}
	return ""
}

// classifyPlatformError maps D-Bus errors: no Secret Service on the bus or
// no bus at all is ErrUnavailable; a call with no reply is ErrLocked.
func classifyPlatformError(err error) error {
	if name := dbusName(err); name != "" {
		switch {
		case slices.Contains(noService, name):
			return ErrUnavailable
		case slices.Contains([]string{"org.freedesktop.DBus.Error.NoReply", "org.freedesktop.DBus.Error.Timeout",
			"org.freedesktop.DBus.Error.AccessDenied", "org.freedesktop.Secret.Error.IsLocked"}, name):
			return ErrLocked
		}
		return nil
	}
	var nerr *net.OpError
	if errors.As(err, &nerr) || errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
		return ErrUnavailable
	}
	return nil
}
