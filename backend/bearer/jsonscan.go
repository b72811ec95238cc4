package bearer

import "encoding/json"

// This file holds the one JSON reader of the package. It walks a header or
// a payload once, accepting exactly the JSON that encoding/json accepts, and
// hands each member's decoded name and raw value to a callback. Nothing is
// decoded into maps or through reflection; strings are substrings of the
// input unless they hold escapes or non-ASCII bytes, which go through
// encoding/json so that they decode exactly as before.

// members walks the JSON object that is the whole of s, calling fn with the
// decoded name and the raw text of each member's value, in order. It fails
// on a non-object, a syntax error, a duplicate name (RFC 8725 §3.11 asks for
// one meaning per token) or anything but whitespace after the object.
//
// Nesting depth is not limited, as a segment of an 8 KiB token cannot reach
// encoding/json's limit of 10000.
func members(s string, fn func(name, val string) error) error {
	d := scanner{s: s}
	d.space()
	if !d.eat('{') {
		return invalid("segment is not a JSON object")
	}
	var seen nameSet
	d.space()
	if !d.eat('}') {
		for {
			d.space()
			name, ok := d.name()
			if !ok {
				return invalid("segment is not valid JSON")
			}
			if !seen.add(name) {
				return invalid("duplicate member " + safeName(name))
			}
			d.space()
			if !d.eat(':') {
				return invalid("segment is not valid JSON")
			}
			d.space()
			start := d.i
			if !d.value() {
				return invalid("segment is not valid JSON")
			}
			if err := fn(name, s[start:d.i]); err != nil {
				return err
			}
			d.space()
			if d.eat(',') {
				continue
			}
			if d.eat('}') {
				break
			}
			return invalid("segment is not valid JSON")
		}
	}
	d.space()
	if d.i != len(s) {
		return invalid("trailing data after JSON object")
	}
	return nil
}

// scanner is a cursor over one JSON text.
type scanner struct {
	s string
	i int
}

func (d *scanner) space() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *scanner) eat(c byte) bool {
	if d.i < len(d.s) && d.s[d.i] == c {
		d.i++
		return true
	}
	return false
}

// value skips one JSON value, reporting whether it was well formed. Open
// arrays and objects are kept on an explicit stack, not by recursion, so a
// deeply nested segment costs a byte per level rather than a stack frame.
func (d *scanner) value() bool {
	var small [32]byte
	open := small[:0] // '{' or '[' per open container
	for {
		// A value is expected here.
		if d.i >= len(d.s) {
			return false
		}
		switch c := d.s[d.i]; {
		case c == '{' || c == '[':
			d.i++
			d.space()
			if d.eat(c + 2) { // '}' or ']'
				break
			}
			open = append(open, c)
			if c == '{' && !d.key() {
				return false
			}
			d.space()
			continue
		case c == '"':
			if !d.str() {
				return false
			}
		case c == '-' || c >= '0' && c <= '9':
			if !d.number() {
				return false
			}
		case c == 't':
			if !d.literal("true") {
				return false
			}
		case c == 'f':
			if !d.literal("false") {
				return false
			}
		case c == 'n':
			if !d.literal("null") {
				return false
			}
		default:
			return false
		}
		// A value ended: close what it ends, or move to the next element.
		for {
			if len(open) == 0 {
				return true
			}
			top := open[len(open)-1]
			d.space()
			if d.eat(top + 2) {
				open = open[:len(open)-1]
				continue
			}
			if !d.eat(',') || top == '{' && !d.key() {
				return false
			}
			d.space()
			break
		}
	}
}

// key reads a member name inside a skipped object, and the colon after it.
func (d *scanner) key() bool {
	d.space()
	if d.i >= len(d.s) || d.s[d.i] != '"' || !d.str() {
		return false
	}
	d.space()
	return d.eat(':')
}

// str skips a string literal starting at its opening quote.
func (d *scanner) str() bool {
	d.i++ // '"'
	for d.i < len(d.s) {
		switch c := d.s[d.i]; {
		case c == '"':
			d.i++
			return true
		case c == '\\':
			if !d.escape() {
				return false
			}
		case c < 0x20:
			return false
		default:
			d.i++
		}
	}
	return false
}

// escape skips one escape sequence starting at its backslash.
func (d *scanner) escape() bool {
	if d.i+1 >= len(d.s) {
		return false
	}
	switch d.s[d.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		d.i += 2
		return true
	case 'u':
		if d.i+6 > len(d.s) {
			return false
		}
		for _, c := range []byte(d.s[d.i+2 : d.i+6]) {
			if !isHex(c) {
				return false
			}
		}
		d.i += 6
		return true
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number skips a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *scanner) number() bool {
	d.eat('-')
	switch {
	case d.eat('0'):
	case d.i < len(d.s) && d.s[d.i] >= '1' && d.s[d.i] <= '9':
		d.digits()
	default:
		return false
	}
	if d.eat('.') && d.digits() == 0 {
		return false
	}
	if d.eat('e') || d.eat('E') {
		if !d.eat('+') {
			d.eat('-')
		}
		if d.digits() == 0 {
			return false
		}
	}
	return true
}

func (d *scanner) digits() int {
	start := d.i
	for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
		d.i++
	}
	return d.i - start
}

func (d *scanner) literal(lit string) bool {
	if len(d.s)-d.i >= len(lit) && d.s[d.i:d.i+len(lit)] == lit {
		d.i += len(lit)
		return true
	}
	return false
}

// name reads a member name and returns it decoded.
func (d *scanner) name() (string, bool) {
	start := d.i
	if d.i >= len(d.s) || d.s[d.i] != '"' || !d.str() {
		return "", false
	}
	return unquote(d.s[start:d.i])
}

// unquote decodes a well-formed string literal, quotes included. A literal
// of plain printable ASCII is its own value; any other goes through
// encoding/json, which undoes escapes and replaces invalid UTF-8 exactly as
// it did when encoding/json decoded the whole token.
func unquote(lit string) (string, bool) {
	body := lit[1 : len(lit)-1]
	for i := 0; i < len(body); i++ {
		if c := body[i]; c == '\\' || c >= 0x80 {
			var s string
			err := json.Unmarshal([]byte(lit), &s)
			return s, err == nil
		}
	}
	return body, true
}

// stringValue decodes val if it is a JSON string.
func stringValue(val string) (string, bool) {
	if len(val) < 2 || val[0] != '"' {
		return "", false
	}
	return unquote(val)
}

// nameSet remembers the member names of one object. Small objects, the
// common case, are checked with a linear scan and no allocation; large ones
// switch to a map so that an 8 KiB token of tiny members stays linear.
type nameSet struct {
	few  [16]string
	n    int
	many map[string]struct{}
}

// add records name and reports whether it was new.
func (s *nameSet) add(name string) bool {
	if s.many != nil {
		if _, dup := s.many[name]; dup {
			return false
		}
		s.many[name] = struct{}{}
		return true
	}
	for _, have := range s.few[:s.n] {
		if have == name {
			return false
		}
	}
	if s.n < len(s.few) {
		s.few[s.n] = name
		s.n++
		return true
	}
	s.many = make(map[string]struct{}, 2*len(s.few))
	for _, have := range s.few {
		s.many[have] = struct{}{}
	}
	s.many[name] = struct{}{}
	return true
}

// safeName returns a member name fit for an error message: short and plain.
func safeName(s string) string {
	if len(s) > 32 {
		return "(long name)"
	}
	for _, c := range s {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return "(unprintable name)"
		}
	}
	return s
}

// elements calls fn with the raw text of each element of the well-formed
// JSON array val, stopping when fn returns false.
func elements(val string, fn func(elem string) bool) bool {
	d := scanner{s: val, i: 1}
	d.space()
	if d.eat(']') {
		return true
	}
	for {
		d.space()
		start := d.i
		if !d.value() || !fn(val[start:d.i]) {
			return false
		}
		d.space()
		if d.eat(']') {
			return true
		}
		if !d.eat(',') {
			return false
		}
	}
}
