package platform

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
)

// AppName is the directory name keyrelay uses under the OS config location.
const AppName = "keyrelay"

// EnvDataDir names the variable that overrides DataDir.
const EnvDataDir = "RELAY_DATA_DIR"

// ErrNoDataDir reports that no data directory could be determined.
var ErrNoDataDir = errors.New("platform: cannot determine the data directory; set " + EnvDataDir)

// DataDir returns keyrelay's data directory. It does not create it.
//
//   - RELAY_DATA_DIR, if set, wins (made absolute).
//   - macOS: ~/Library/Application Support/keyrelay
//   - Windows: %APPDATA%\keyrelay
//   - Linux and other Unix: $XDG_CONFIG_HOME/keyrelay if that is an
//     absolute path, else ~/.config/keyrelay
func DataDir() (string, error) {
	home, _ := os.UserHomeDir() // an error leaves home empty, handled below
	return dataDirFor(runtime.GOOS, os.Getenv, home)
}

// dataDirFor is DataDir with its inputs explicit, so every OS is testable.
func dataDirFor(goos string, getenv func(string) string, home string) (string, error) {
	if d := getenv(EnvDataDir); d != "" {
		return filepath.Abs(d)
	}
	var base string
	switch goos {
	case "darwin", "ios":
		base = joinIfSet(home, "Library", "Application Support")
	case "windows":
		base = getenv("APPDATA")
	default:
		// The XDG spec says relative values are invalid and must be ignored.
		if x := getenv("XDG_CONFIG_HOME"); filepath.IsAbs(x) {
			base = x
		} else {
			base = joinIfSet(home, ".config")
		}
	}
	if base == "" {
		return "", ErrNoDataDir
	}
	return filepath.Join(base, AppName), nil
}

func joinIfSet(home string, elem ...string) string {
	if home == "" {
		return ""
	}
	return filepath.Join(append([]string{home}, elem...)...)
}
