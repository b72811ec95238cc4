// Package secret holds a string type for tokens, codes, verifiers and keys
// that cannot be printed by accident.
//
// A Value prints as REDACTED through fmt (every verb), log/slog and
// encoding/json. The only way to get the bytes back is Reveal, so every use
// of the real value can be found with grep.
//
// Non-goals: a Value does not protect memory (Go may copy strings freely),
// and it does not stop code that calls Reveal from leaking the result.
package secret

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
)

// Redacted is what a Value prints as.
const Redacted = "REDACTED"

// Value is a secret string. The zero Value is empty.
//
// The string sits behind a pointer: when fmt prints a struct while
// reporting a bad verb (for example %s on a struct holding a pointer to a
// struct holding a Value), it stops calling Format methods and walks the
// fields by reflection; it then prints a nested pointer as an address, not
// as the string it points to.
type Value struct {
	b *box
}

type box struct{ s string }

// New wraps s.
func New(s string) Value {
	if s == "" {
		return Value{}
	}
	return Value{b: &box{s: s}}
}

// Reveal returns the secret. Call it only where the value must leave the
// process on purpose: an HTTP header, a form field, the encrypted vault.
func (v Value) Reveal() string {
	if v.b == nil {
		return ""
	}
	return v.b.s
}

// IsZero reports whether the value is empty.
func (v Value) IsZero() bool { return v.b == nil || v.b.s == "" }

// Equal compares two values in constant time (for equal lengths).
func (v Value) Equal(o Value) bool {
	return subtle.ConstantTimeCompare([]byte(v.Reveal()), []byte(o.Reveal())) == 1
}

// String implements fmt.Stringer.
func (Value) String() string { return Redacted }

// GoString implements fmt.GoStringer, for %#v.
func (Value) GoString() string { return Redacted }

// Format implements fmt.Formatter, so no verb (%s %v %q %x %d) reaches the
// underlying string.
func (Value) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue implements slog.LogValuer.
func (Value) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON writes "REDACTED". Code that must serialise the real value
// (the vault) copies it into a plain string field of its own on purpose.
func (Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText writes REDACTED, covering encoders that use TextMarshaler.
func (Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
