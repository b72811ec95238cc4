// Package vault keeps keyrelay's OAuth tokens encrypted at rest, in a form
// that logout can destroy.
//
// # Design: envelope encryption
//
// All token material lives in one file, tokens.age, encrypted with age to an
// X25519 identity: the vault key. A key source holds only that 74-byte key,
// written once at the first login:
//
//   - the OS keychain (default): macOS Keychain, Windows Credential
//     Manager, Linux Secret Service, through a wrapper with a timeout that
//     never lets the D-Bus library autolaunch a daemon (see OSKeychain);
//   - file:PATH, an age identity file the user manages; if there is none
//     at the first login, a new one is made there (0600, in a directory of
//     the user's own that others cannot write), never replacing a file;
//   - cmd:COMMAND, a command that prints the identity, run without a shell;
//   - passphrase: the key is wrapped in key.age with an age scrypt recipient.
//
// Refreshes rewrite tokens.age only and never touch the key source. vault.json
// records, in the clear, the format version, a random vault id, the chosen
// key source and the recipient (public key).
//
// # Selection
//
// An explicit RELAY_VAULT_KEY wins. Otherwise the OS keychain is used; if it
// is unavailable (not merely locked) and RELAY_VAULT_PASSPHRASE_FILE is set,
// the passphrase source is used; otherwise Update fails closed with
// ErrNoKeySource (*NoKeySourceError), naming the options. The source chosen at the first write is
// recorded and always used after; if it later fails, that is an error, never
// a migration.
//
// # Security properties
//
//   - Tokens are never written unencrypted; files are replaced atomically
//     (temp file, fsync, rename, fsync of the directory).
//   - The data directory is 0700 and files 0600, fixed on every Open; a
//     symlink or an item owned by another user is refused.
//   - Every operation holds an exclusive cross-process lock and re-reads the
//     files under it; Update holds it across its callback, so concurrent
//     relays never spend one rotating refresh token twice.
//   - A corrupt or undecryptable file is moved aside with a timestamp and
//     reported; it is never overwritten blind, and the next login works.
//   - Wipe deletes the keychain items first (a crypto-shred of every copy of
//     tokens.age), then the files, and reports what remains.
//   - Token fields are secret.Value; errors never include file contents,
//     key material or command output.
//   - A new passphrase-wrapped vault refuses a passphrase that is easy to
//     guess offline (CheckPassphrase: 15 characters or more, 8 different,
//     not mostly runs); nothing is written until one clears the floor.
//
// # Non-goals
//
// The vault does not protect against code running as the same user while
// the key source is unlocked (on macOS any such process can read the
// keychain item), nor against a privileged attacker, nor does it keep
// secrets out of process memory. Windows ACLs are not inspected. The key
// travels to the Secret Service over the session bus in the clear
// (go-keyring uses the "plain" session), which only the same user can read.
package vault
