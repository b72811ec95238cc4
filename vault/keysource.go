package vault

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"

	"filippo.io/age"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// Kind names a key source. It is recorded in vault.json.
type Kind string

const (
	KindKeychain   Kind = "keychain"   // the OS keychain (default)
	KindFile       Kind = "file"       // RELAY_VAULT_KEY=file:PATH
	KindCommand    Kind = "cmd"        // RELAY_VAULT_KEY=cmd:COMMAND
	KindPassphrase Kind = "passphrase" // RELAY_VAULT_KEY=passphrase
)

func (k Kind) valid() bool {
	switch k {
	case KindKeychain, KindFile, KindCommand, KindPassphrase:
		return true
	}
	return false
}

// keySource holds the vault key, an age X25519 identity. Implementations
// are used under the vault's exclusive lock, one call at a time.
type keySource interface {
	kind() Kind
	// load returns the key of the vault with the given id. An error wrapping
	// ErrKeyLost means the source answered and has no key for it.
	load(ctx context.Context, id string) (*age.X25519Identity, error)
	// create returns the key for a new vault, generating and storing it
	// when the source stores keys (keychain, passphrase). It runs only on
	// the first write, never on a read.
	create(ctx context.Context, id string) (*age.X25519Identity, error)
}

// keySpec is a parsed RELAY_VAULT_KEY.
type keySpec struct {
	kind Kind
	arg  string // the path for file:, the command line for cmd:
}

// parseKeySpec parses RELAY_VAULT_KEY: "", "keychain", "passphrase",
// "file:PATH" or "cmd:COMMAND ARGS". A leading "~/" in PATH is the home
// directory. It does not check the path or command.
func parseKeySpec(s string) (keySpec, error) {
	switch {
	case s == "":
		return keySpec{}, nil
	case s == string(KindKeychain), s == string(KindPassphrase):
		return keySpec{kind: Kind(s)}, nil
	case strings.HasPrefix(s, "file:") && len(s) > len("file:"):
		return keySpec{kind: KindFile, arg: expandHome(s[len("file:"):])}, nil
	case strings.HasPrefix(s, "cmd:"):
		if _, err := splitCommand(s[len("cmd:"):]); err != nil {
			return keySpec{}, err
		}
		return keySpec{kind: KindCommand, arg: s[len("cmd:"):]}, nil
	}
	return keySpec{}, fmt.Errorf("%w: RELAY_VAULT_KEY must be keychain, passphrase, file:PATH or cmd:COMMAND", ErrKeySource)
}

// parseIdentity reads an age identity file's content: blank lines and
// # comments are skipped, and exactly one AGE-SECRET-KEY-1 line must remain.
// Errors name a line number, never content.
func parseIdentity(what string, b []byte) (*age.X25519Identity, error) {
	var found *age.X25519Identity
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, err := age.ParseX25519Identity(line)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: line %d is not an age X25519 identity (AGE-SECRET-KEY-1...)", ErrKeySource, what, n)
		}
		if found != nil {
			return nil, fmt.Errorf("%w: %s holds more than one identity", ErrKeySource, what)
		}
		found = id
	}
	if sc.Err() != nil || found == nil {
		return nil, fmt.Errorf("%w: %s holds no age X25519 identity", ErrKeySource, what)
	}
	return found, nil
}

func identitySecret(id *age.X25519Identity) secret.Value { return secret.New(id.String()) }

// describe says what each kind protects against, for Status.
func describe(k Kind) (protects, doesNot string) {
	switch k {
	case KindKeychain:
		return "copies of the data directory (backups, snapshots, sync) are useless without this user's unlocked OS keychain; logout deletes the key, which shreds every copy",
			"malware running as this user while the keychain is unlocked (on macOS any process of the user can read the item through /usr/bin/security)"
	case KindFile:
		return "copies of the data directory are useless without the key file, if that file is kept elsewhere (e.g. an encrypted or removable volume)",
			"anyone who can read the key file, including every process of this user"
	case KindCommand:
		return "the key stays in the program the command asks (e.g. a password manager); copies of the data directory are useless without it",
			"processes of this user that can run the same command while it is unlocked"
	case KindPassphrase:
		return "copies of the data directory are useless without the passphrase (key.age is wrapped with scrypt)",
			"anyone who can read RELAY_VAULT_PASSPHRASE_FILE, or guess a weak passphrase"
	}
	return "", ""
}
