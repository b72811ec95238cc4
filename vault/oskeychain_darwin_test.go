package vault

import "testing"

// osKeychainItems is nil on macOS: the test checks the items through
// OSKeychain only (listing a keychain's items needs security(1) and may
// prompt).
func osKeychainItems(*testing.T, string) []string { return nil }
