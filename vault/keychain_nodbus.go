//go:build !(linux || freebsd || netbsd || openbsd || dragonfly)

package vault

// sessionBusCheck is only needed where the keychain speaks D-Bus.
func sessionBusCheck() error { return nil }

func classifyPlatformError(error) error { return nil }

func platformWhy(error) string { return "" }
