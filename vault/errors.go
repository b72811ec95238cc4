package vault

import (
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/keyrelay/keyrelay/platform"
)

var (
	// ErrNotFound: no record for the account, or no item in the keychain.
	ErrNotFound = errors.New("vault: not found")

	// ErrUnavailable: there is no OS keychain in this session (for example no
	// D-Bus session bus on Linux). It is the only keychain error that lets
	// the vault fall back to another key source, and only at first login.
	ErrUnavailable = errors.New("vault: keychain unavailable")

	// ErrLocked: the keychain is locked, refused access, or did not answer
	// within the timeout. It never causes a fallback.
	ErrLocked = errors.New("vault: keychain locked or not responding")

	// ErrNoKeySource: the vault needs a key and none can be used. The error
	// text names the options, one line each (see NoKeySourceError).
	ErrNoKeySource = errors.New("vault: no key source")

	// ErrKeySource: the key source recorded in vault.json cannot be used as
	// configured now (for example RELAY_VAULT_KEY names a different kind, or
	// the key command failed). The vault never migrates silently.
	ErrKeySource = errors.New("vault: key source")

	// ErrWrongKey: the key source returned a key that is not the one this
	// vault was created with.
	ErrWrongKey = errors.New("vault: key does not match this vault")

	// ErrWrongPassphrase: the passphrase does not unwrap key.age.
	ErrWrongPassphrase = errors.New("vault: wrong passphrase")

	// ErrWeakPassphrase: a new vault's passphrase was refused as too easy
	// to guess (CheckPassphrase); nothing was written. The error text says
	// what is wanted.
	ErrWeakPassphrase = errors.New("vault: passphrase too weak for a new vault")

	// ErrCorrupt: a vault file could not be read or decrypted. Errors
	// wrapping it are *CorruptError; the file has been moved aside.
	ErrCorrupt = errors.New("vault: corrupt vault file")

	// ErrNewer: a vault file was written by a newer relay (a format
	// version above this one's, or a field or key source it does not
	// know). Errors wrapping it are *NewerError; the files are left as
	// they are, for the newer relay.
	ErrNewer = errors.New("vault: written by a newer relay")

	// ErrKeyLost: vault.json names a key that its source no longer has.
	ErrKeyLost = errors.New("vault: vault key is gone from its key source")

	// ErrInsecure: a path was refused for its type, owner or permissions.
	// Errors wrapping it are *platform.PermissionError.
	ErrInsecure = platform.ErrInsecure
)

// CorruptError reports a vault file that could not be used. The files were
// kept, renamed with a timestamp suffix, so the next login starts a fresh
// vault; Wipe removes them.
type CorruptError struct {
	File    string   // the file that failed, e.g. "tokens.age"
	MovedTo []string // where the affected files were moved
	Err     error    // why; never contains file contents
}

func (e *CorruptError) Error() string {
	msg := fmt.Sprintf("vault: %s is unusable (%v)", e.File, e.Err)
	if len(e.MovedTo) > 0 {
		msg += "; moved aside to " + strings.Join(e.MovedTo, ", ") + "; log in again to start a new vault"
	}
	return msg
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns the cause.
func (e *CorruptError) Unwrap() error { return e.Err }

// NoKeySourceError is ErrNoKeySource at a first login with no OS keychain
// in the session and no other key source configured. Its text is three
// short lines: what is wrong, then the two settings to choose from, each a
// line to paste into a shell (PowerShell on Windows).
type NoKeySourceError struct {
	Why     string // why there is no keychain, in a few words; may be empty
	KeyFile string // the key file to suggest (absolute)
	Err     error  // the keychain's error, wrapping ErrUnavailable
}

func (e *NoKeySourceError) Error() string { return e.text(runtime.GOOS) }

// text is the error's text on goos: the lines to paste are for a POSIX
// shell, or for PowerShell on Windows.
func (e *NoKeySourceError) text(goos string) string {
	what := "no OS keychain in this session"
	if e.Why != "" {
		what += " (" + e.Why + ")"
	}
	set := func(v string) string { return "export " + shellQuote(EnvKey+"="+v) }
	if goos == "windows" {
		set = func(v string) string { return "$env:" + EnvKey + " = '" + strings.ReplaceAll(v, "'", "''") + "'" }
	}
	return what + "; choose a key source:\n" +
		"  " + set("file:"+e.KeyFile) + "  # created at first login\n" +
		"  " + set("passphrase") + "  # asked at login"
}

// Unwrap makes errors.Is(err, ErrNoKeySource) and the keychain's error
// true.
func (e *NoKeySourceError) Unwrap() []error { return []error{ErrNoKeySource, e.Err} }

// shellQuote quotes s for a POSIX shell if it needs it.
func shellQuote(s string) string {
	if strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-:=+,@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// NewerError reports a vault file that a newer relay wrote. Nothing is
// moved aside or written: two relays of different versions on one
// machine must not take turns wiping each other's sign-ins.
type NewerError struct {
	File   string // the file, e.g. "tokens.age"
	Reason string // a fixed text, never the file's content
}

func (e *NewerError) Error() string {
	what := "the vault"
	if e.File != "" {
		what = e.File
	}
	return fmt.Sprintf("vault: %s was written by a newer relay (%s); it is left as it is", what, e.Reason)
}

// Is makes errors.Is(err, ErrNewer) true.
func (e *NewerError) Is(target error) bool { return target == ErrNewer }

// FormatError reports malformed vault file content. It carries only a byte
// offset and a fixed reason, never the content.
type FormatError struct {
	Offset int64  // byte offset into the decrypted content, -1 if unknown
	Reason string // from a fixed set of messages
}

func (e *FormatError) Error() string {
	if e.Offset < 0 {
		return "malformed vault data: " + e.Reason
	}
	return fmt.Sprintf("malformed vault data at byte %d: %s", e.Offset, e.Reason)
}
