package vault

import (
	"context"
	"log/slog"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// Environment variables read by OptionsFromEnv.
const (
	EnvKey            = "RELAY_VAULT_KEY"
	EnvPassphraseFile = "RELAY_VAULT_PASSPHRASE_FILE"
	EnvDataDir        = "RELAY_DATA_DIR"
)

// Options configures Open. The zero value uses the OS data directory and
// the OS keychain.
type Options struct {
	// Dir is the data directory. Empty means platform.DataDir(), which
	// honours RELAY_DATA_DIR.
	Dir string

	// KeySpec is RELAY_VAULT_KEY: "" (the recorded source, else the OS
	// keychain), "keychain", "passphrase", "file:PATH" or "cmd:COMMAND".
	KeySpec string

	// PassphraseFile is RELAY_VAULT_PASSPHRASE_FILE. It supplies the
	// passphrase without a prompt, and is also the configured fallback when
	// KeySpec is empty and there is no OS keychain in the session.
	PassphraseFile string

	// Prompt asks the user for the passphrase without echo. prompt is a
	// label such as "New vault passphrase", without punctuation: the
	// prompt adds its own. Nil in the stdio server, which cannot prompt.
	Prompt func(ctx context.Context, prompt string) (secret.Value, error)

	// RequireKeychain refuses every key source but the OS keychain (an
	// administrator's policy): RELAY_VAULT_KEY may only be empty or
	// keychain, a vault recorded with another source is not opened, and
	// there is no passphrase fallback when the keychain is unavailable.
	RequireKeychain bool

	// Keychain is the OS keychain. Nil means &OSKeychain{}. Tests pass a
	// *MemKeychain.
	Keychain Keychain

	// CommandTimeout bounds a cmd: key command. Zero means
	// DefaultCommandTimeout.
	CommandTimeout time.Duration

	// ScryptWorkFactor is the log2 scrypt cost used when a passphrase
	// wraps a new key. Zero means age's default (18, about a second).
	// WARNING: lower values make the passphrase cheaper to guess; only
	// tests should set this.
	ScryptWorkFactor int

	// Logger receives warnings (permissions fixed, fallbacks taken). Nil
	// discards them. Secrets are never logged.
	Logger *slog.Logger

	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// OptionsFromEnv fills Dir, KeySpec and PassphraseFile from the RELAY_*
// variables through getenv (os.Getenv in production).
func OptionsFromEnv(getenv func(string) string) Options {
	return Options{
		Dir:            getenv(EnvDataDir),
		KeySpec:        getenv(EnvKey),
		PassphraseFile: getenv(EnvPassphraseFile),
	}
}
