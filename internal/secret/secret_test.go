package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const fake = "fake-secret-value-0123456789"

func TestValueNeverPrints(t *testing.T) {
	v := New(fake)
	type wrapper struct {
		Tok Value
		P   *Value
	}
	w := wrapper{Tok: v, P: &v}
	outs := []string{
		fmt.Sprint(v), fmt.Sprintf("%s %v %+v %#v %q %x %X %d", v, v, v, v, v, v, v, v),
		fmt.Sprintf("%v %+v %#v", w, w, &w), v.String(), v.GoString(),
	}
	j, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(j))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "tok", v, "w", w)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "tok", v, "p", &v)
	outs = append(outs, buf.String())
	for _, o := range outs {
		if strings.Contains(o, fake) || strings.Contains(o, fmt.Sprintf("%x", fake)) {
			t.Errorf("secret leaked: %s", o)
		}
		if !strings.Contains(o, Redacted) {
			t.Errorf("output lacks %s: %s", Redacted, o)
		}
	}
	if v.Reveal() != fake {
		t.Fatal("Reveal lost the value")
	}
}

// TestNestedBadVerb covers fmt's bad-verb path, which prints nested
// structs by reflection without calling Format.
func TestNestedBadVerb(t *testing.T) {
	type inner struct{ Secret Value }
	type outer struct {
		Name  string
		Inner *inner
		List  []*inner
	}
	o := outer{Name: "x", Inner: &inner{Secret: New(fake)}, List: []*inner{{Secret: New(fake)}}}
	for _, verb := range []string{"%s", "%d", "%x", "%v", "%+v", "%#v", "%q", "%t", "%p"} {
		if out := fmt.Sprintf(verb, o); strings.Contains(out, fake) || strings.Contains(out, fmt.Sprintf("%x", fake)) {
			t.Errorf("%s leaked: %s", verb, out)
		}
		if out := fmt.Sprintf(verb, &o); strings.Contains(out, fake) {
			t.Errorf("%s on pointer leaked: %s", verb, out)
		}
	}
}

// TestUnexportedFieldBadVerb covers a Value in an unexported field, the
// usual case: fmt cannot call its Format method, walks it by reflection,
// and with a verb a pointer does not take (%s, %q, %t) reports the bad
// verb by printing the pointer as if at the top level.
func TestUnexportedFieldBadVerb(t *testing.T) {
	type holder struct {
		name string
		tok  Value
		list []Value
		m    map[string]Value
	}
	h := holder{name: "x", tok: New(fake), list: []Value{New(fake)}, m: map[string]Value{"k": New(fake)}}
	type outer struct{ h *holder }
	o := outer{h: &h}
	for _, verb := range []string{"%s", "%d", "%x", "%X", "%v", "%+v", "%#v", "%q", "%t", "%p", "%o", "%b", "%e", "%U", "%c"} {
		for _, arg := range []any{h, &h, o, &o, []holder{h}, map[string]holder{"k": h}} {
			out := fmt.Sprintf(verb, arg)
			if strings.Contains(out, fake) || strings.Contains(out, fmt.Sprintf("%x", fake)) || strings.Contains(out, fmt.Sprint([]byte(fake))[1:20]) {
				t.Errorf("%s of %T leaked: %s", verb, arg, out)
			}
		}
	}
}

func TestEqualAndZero(t *testing.T) {
	if !New("a").Equal(New("a")) || New("a").Equal(New("b")) || New("a").Equal(New("ab")) {
		t.Fatal("Equal is wrong")
	}
	if !(Value{}).IsZero() || New("x").IsZero() {
		t.Fatal("IsZero is wrong")
	}
}

func TestReplaceAttr(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: ReplaceAttr}))
	l.Info("m", "access_token", fake, "Refresh-Token", fake, "code_verifier", fake, "Authorization", "Bearer "+fake, "sub", "alice")
	if strings.Contains(buf.String(), fake) {
		t.Fatalf("ReplaceAttr let a secret through: %s", buf.String())
	}
	if !strings.Contains(buf.String(), "sub=alice") {
		t.Fatalf("ReplaceAttr blanked a harmless attribute: %s", buf.String())
	}
}

func TestScrub(t *testing.T) {
	tok := New("tok-" + fake)
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"plain text", 40, "plain text"},
		{"  ctrl\x00\x1b[31m é chars\n ", 40, "ctrl[31m  chars"},
		{"echo tok-" + fake + " back", 100, "echo REDACTED back"},
		{"split tok-\x00" + fake, 100, "split REDACTED"},
		{"abcdefghij", 4, "abcd..."},
		{"", 4, ""},
	} {
		if got := Scrub(c.in, c.max, tok, Value{}); got != c.want {
			t.Errorf("Scrub(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}
