package secret

import "strings"

// Scrub makes text from a peer (a server's error description, a network
// error, a name a server chose) safe to log or show: it keeps printable
// ASCII only, replaces each non-empty secret with Redacted, trims spaces,
// and caps the length at max bytes, marking a cut with "...". Filtering
// first means a secret split by control or non-ASCII bytes is still
// caught.
func Scrub(s string, max int, secrets ...Value) string {
	s = printable(s)
	for _, v := range secrets {
		if p := printable(v.Reveal()); p != "" {
			s = strings.ReplaceAll(s, p, Redacted)
		}
	}
	s = strings.TrimSpace(s)
	if len(s) > max {
		return strings.TrimSpace(s[:max]) + "..."
	}
	return s
}

// printable drops every byte outside 0x20..0x7e.
func printable(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		}
	}
	return b.String()
}
