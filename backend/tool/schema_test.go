package tool

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func echoHandler(context.Context, map[string]any, *User) (*Result, error) { return Text(""), nil }

func TestSchemaValidation(t *testing.T) {
	sc, err := compileSchema(json.RawMessage(`{
		"type":"object",
		"properties":{
			"name":{"type":"string","minLength":2,"maxLength":5,"pattern":"^[a-z]+$"},
			"n":{"type":"integer","minimum":1,"maximum":10},
			"kind":{"enum":["a","b"]},
			"tags":{"type":"array","items":{"type":"string"},"maxItems":2},
			"opt":{"type":["string","null"]},
			"inner":{"type":"object","properties":{"x":{"type":"boolean"}},"required":["x"],"additionalProperties":false}
		},
		"required":["name"],
		"additionalProperties":false}`))
	testkit.NoErr(t, err)
	cases := []struct {
		args  string
		field string // "" = valid
	}{
		{`{"name":"abc"}`, ""},
		{`{"name":"abc","n":3,"kind":"a","tags":["x"],"opt":null,"inner":{"x":true}}`, ""},
		{`{}`, "name"},
		{`{"name":"a"}`, "name"},
		{`{"name":"abcdef"}`, "name"},
		{`{"name":"AB"}`, "name"},
		{`{"name":"abc","n":1.5}`, "n"},
		{`{"name":"abc","n":11}`, "n"},
		{`{"name":"abc","kind":"c"}`, "kind"},
		{`{"name":"abc","tags":["x",1]}`, "tags[1]"},
		{`{"name":"abc","tags":["x","y","z"]}`, "tags"},
		{`{"name":"abc","opt":5}`, "opt"},
		{`{"name":"abc","inner":{}}`, "inner.x"},
		{`{"name":"abc","inner":{"x":true,"y":1}}`, "inner.y"},
		{`{"name":"abc","extra":1}`, "extra"},
	}
	for _, c := range cases {
		var args map[string]any
		testkit.NoErr(t, json.Unmarshal([]byte(c.args), &args))
		err := sc.validate(args, "")
		var ae *ArgError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: unexpected %v", c.args, err)
		case c.field != "" && (!errors.As(err, &ae) || ae.Field != c.field):
			t.Errorf("%s: got %v, want field %q", c.args, err, c.field)
		}
	}
}
