// Package archtest holds no code: its test enforces which of keyrelay's
// packages may import which, so the architecture in the tree stays true.
package archtest
