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
// fmt does not call Format on a Value it reaches through an unexported
// struct field, nor on anything inside a struct it prints while reporting
// a bad verb (%s on a struct holding a pointer to a struct holding a
// Value); it walks the fields by reflection instead. The string therefore
// sits directly behind a pointer to string: fmt prints such a pointer as
// an address, and even the bad-verb report, which expands a pointer to a
// struct, slice, array or map, does not expand a pointer to a string. (A
// pointer to a struct holding the string would be expanded there: %s on a
// struct with an unexported Value field would print the secret.)
type Value struct {
	p *string
}

// New wraps s.
func New(s string) Value {
	if s == "" {
		return Value{}
	}
	return Value{p: &s}
}

// Reveal returns the secret. Call it only where the value must leave the
// process on purpose: an HTTP header, a form field, the encrypted vault.
func (v Value) Reveal() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

// IsZero reports whether the value is empty.
func (v Value) IsZero() bool { return v.p == nil || *v.p == "" }

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
