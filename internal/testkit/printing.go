package testkit

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// NoSecretPrinted fails the test if any way of printing any of vs shows
// one of secrets (by name): fmt's %v, %+v, %#v and %s, slog's JSON and
// text handlers, and json.Marshal (its error text, if it fails), each
// secret spelt as it is, in hex, in base64 (standard and raw URL) and as
// fmt's byte list ("116 101 ..."). An empty secret fails the test: there
// would be nothing to look for.
func NoSecretPrinted(t testing.TB, secrets map[string]string, vs ...any) {
	t.Helper()
	for name, s := range secrets {
		if s == "" {
			t.Fatalf("the %s is empty: nothing to look for", name)
		}
	}
	for _, v := range vs {
		for how, out := range printings(v) {
			for name, s := range secrets {
				for _, enc := range encodings(s) {
					if strings.Contains(out, enc) {
						t.Errorf("%s of a %T shows the %s: %s", how, v, name, out)
					}
				}
			}
		}
	}
}

// printings is v printed every way NoSecretPrinted checks.
func printings(v any) map[string]string {
	var js, txt bytes.Buffer
	slog.New(slog.NewJSONHandler(&js, nil)).Info("print", "v", v)
	slog.New(slog.NewTextHandler(&txt, nil)).Info("print", "v", v)
	j, err := json.Marshal(v)
	if err != nil {
		j = []byte("json error: " + err.Error())
	}
	return map[string]string{
		"%v": fmt.Sprintf("%v", v), "%+v": fmt.Sprintf("%+v", v), "%#v": fmt.Sprintf("%#v", v), "%s": fmt.Sprintf("%s", v),
		"slog JSON": js.String(), "slog text": txt.String(), "json.Marshal": string(j),
	}
}

// encodings are the ways fmt or an encoder could spell s.
func encodings(s string) []string {
	b := []byte(s)
	return []string{s, hex.EncodeToString(b), base64.StdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		strings.Trim(fmt.Sprint(b), "[]")}
}
