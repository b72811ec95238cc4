package lines

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

var errTooLong = errors.New("too long")

func TestLimit(t *testing.T) {
	cases := []struct {
		name  string
		input string
		ok    bool
	}{
		{"short lines", "ab\ncd\nef\n", true},
		{"exactly max", strings.Repeat("x", 8) + "\n" + strings.Repeat("y", 8) + "\n", true},
		{"one over max", strings.Repeat("x", 9) + "\n", false},
		{"over max without a newline", strings.Repeat("x", 20), false},
		{"long line after short ones", "a\nb\n" + strings.Repeat("x", 9) + "\n", false},
		{"many short lines add up to more than max", strings.Repeat("abc\n", 50), true},
	}
	for _, c := range cases {
		// Read one byte at a time and in one chunk: the count must not
		// depend on how the reader splits the input.
		for _, r := range []io.Reader{strings.NewReader(c.input), iotest.OneByteReader(strings.NewReader(c.input))} {
			out, err := io.ReadAll(Limit(r, 8, errTooLong))
			if c.ok && (err != nil || string(out) != c.input) {
				t.Errorf("%s: %v, read %q", c.name, err, out)
			}
			if !c.ok && !errors.Is(err, errTooLong) {
				t.Errorf("%s: err %v, want errTooLong", c.name, err)
			}
		}
	}
	// Memory: an endless line stops after about max bytes, not at its end.
	endless := io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("x"), 1<<20)), iotest.ErrReader(errors.New("read past the limit")))
	if _, err := io.Copy(io.Discard, Limit(endless, 1<<10, errTooLong)); !errors.Is(err, errTooLong) {
		t.Fatalf("endless line: %v", err)
	}
}
