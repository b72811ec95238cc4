package secret

import (
	"log/slog"
	"strings"
)

// sensitiveKeys are attribute keys whose values are blanked by ReplaceAttr,
// whatever their type. It is a safety net behind the Value type, not a
// replacement for it.
var sensitiveKeys = map[string]bool{
	"authorization":      true,
	"access_token":       true,
	"refresh_token":      true,
	"id_token":           true,
	"token":              true,
	"code":               true,
	"code_verifier":      true,
	"verifier":           true,
	"client_secret":      true,
	"password":           true,
	"passphrase":         true,
	"secret":             true,
	"key":                true,
	"identity":           true,
	"device_code":        true,
	"cookie":             true,
	"set-cookie":         true,
	"registration_token": true,
}

// ReplaceAttr is a slog.HandlerOptions.ReplaceAttr that blanks the values of
// attributes with sensitive names (case-insensitive, '-' and '_' alike).
func ReplaceAttr(_ []string, a slog.Attr) slog.Attr {
	k := strings.ToLower(strings.ReplaceAll(a.Key, "-", "_"))
	if sensitiveKeys[k] || sensitiveKeys[a.Key] {
		return slog.String(a.Key, Redacted)
	}
	return a
}
