package vault

import (
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// The floor a new vault's passphrase must clear (CheckPassphrase). key.age
// is wrapped with scrypt at age's default cost, about a second per guess
// on one core; anyone with a copy of the data directory can guess offline,
// so the passphrase alone stands between a backup and the tokens.
const (
	// MinPassphraseLen is NIST SP 800-63B-4's minimum for a password that
	// is the only factor: 15 characters.
	MinPassphraseLen = 15
	// MinPassphraseDistinct refuses a long passphrase built of a few
	// characters (abababab...).
	MinPassphraseDistinct = 8
)

// passphraseWant is what CheckPassphrase's errors ask for.
var passphraseWant = fmt.Sprintf("want at least %d characters, at least %d of them different, not a run such as aaaa or 1234; "+
	"four or more words chosen at random make a good one", MinPassphraseLen, MinPassphraseDistinct)

// CheckPassphrase reports, as an error wrapping ErrWeakPassphrase, why p
// is too easy to guess for a new vault: fewer than MinPassphraseLen
// characters, fewer than MinPassphraseDistinct different characters, or
// mostly runs of repeated or consecutive characters (aaaa, 1234, abcd).
// The error never holds p, nor its length.
//
// It is a floor without a dictionary, not a strength estimator: it cannot
// tell that a long phrase is a famous quote or a keyboard walk. Vaults
// made before the rule keep their passphrase; only a new one is checked.
func CheckPassphrase(p secret.Value) error {
	s := p.Reveal()
	var why string
	switch {
	case utf8.RuneCountInString(s) < MinPassphraseLen:
		why = fmt.Sprintf("is shorter than %d characters", MinPassphraseLen)
	case distinct(s) < MinPassphraseDistinct:
		why = fmt.Sprintf("has fewer than %d different characters", MinPassphraseDistinct)
	case mostlyRuns(s):
		why = "is mostly repeated or consecutive characters"
	default:
		return nil
	}
	return fmt.Errorf("%w: it %s; %s", ErrWeakPassphrase, why, passphraseWant)
}

func distinct(s string) int {
	seen := map[rune]bool{}
	for _, r := range s {
		seen[unicode.ToLower(r)] = true
	}
	return len(seen)
}

// mostlyRuns reports whether at least half of the neighbouring pairs of
// characters repeat or step by one (aa, ab, ba, 12), case ignored.
func mostlyRuns(s string) bool {
	var pairs, runs int
	prev := rune(-1)
	for _, r := range s {
		r = unicode.ToLower(r)
		if prev >= 0 {
			pairs++
			if d := r - prev; d >= -1 && d <= 1 {
				runs++
			}
		}
		prev = r
	}
	return 2*runs >= pairs
}
