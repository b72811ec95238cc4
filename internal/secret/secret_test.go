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
