// Package platform holds the operating-system specifics keyrelay needs:
// where its data lives, how to open a browser, cross-process file locks,
// creating, checking and atomically replacing private files, signals, and
// tuning the process for a server on stdio.
//
// Security properties:
//   - DataDir and the secure-file helpers keep keyrelay's directory at 0700
//     and its files at 0600 on Unix, fixing looser modes on every open, and
//     refuse a path that is a symlink or is owned by another user.
//   - CheckSecretFile is stricter, for files the user points keyrelay at (a
//     key file, a passphrase file): a mode readable by group or other is
//     refused rather than fixed, because the secret may already have leaked.
//   - AtomicFile replaces a file by writing a temporary file in the same
//     directory, syncing it, renaming it over the target and syncing the
//     directory, so a crash leaves the old or the new content, never a torn
//     file.
//   - OpenBrowser runs no shell, accepts only http and https URLs free of
//     spaces, control and non-ASCII characters and " < > \ ^ ` { | } (so
//     $ ( ) ; ' & pass: nothing interprets them), gives the child no
//     stdin, stdout or stderr, and never waits for it for long.
//
// Non-goals: Windows ACLs are not inspected (the per-user %APPDATA% is
// trusted, only symlinks are refused there); permissions of the parent
// directories are not checked; a privileged local attacker is out of scope.
//
// platform imports nothing else from keyrelay.
package platform
