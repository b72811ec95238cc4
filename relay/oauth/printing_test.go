package oauth

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

// TestLoginPrintsNoStateOrVerifier formats a Login in progress every way a
// log line or a debug print could (fmt's %v, %+v and %#v, slog's JSON and
// text handlers, json.Marshal) and finds neither the state nor the PKCE
// verifier, in any usual encoding. The state is also in the authorization
// URL the Login holds; URL() still gives it, for the browser.
func TestLoginPrintsNoStateOrVerifier(t *testing.T) {
	c := newFakeAS(t).client()
	l := startLogin(t, c)
	state := authParams(t, l).Get("state")
	if state == "" || !strings.Contains(l.URL(), "state="+state) {
		t.Fatalf("URL() lost the state: %s", l.URL())
	}
	// Printed after Close: %s makes fmt walk the http.Server its serve
	// goroutines write to, a race of the test's making.
	_ = l.Close()
	assertPrintsNone(t, l, map[string]string{"state": state, "verifier": l.pkce.verifier.Reveal()})
}

// assertPrintsNone fails if any way of printing v shows one of secrets.
func assertPrintsNone(t *testing.T, v any, secrets map[string]string) {
	t.Helper()
	for how, out := range printings(v) {
		for name, s := range secrets {
			if s == "" {
				t.Fatalf("the %s is empty: nothing to look for", name)
			}
			for _, enc := range encodings(s) {
				if strings.Contains(out, enc) {
					t.Errorf("%s of a %T shows the %s: %s", how, v, name, out)
				}
			}
		}
	}
}

// printings is v printed by fmt (%v, %+v, %#v, %s), by slog's JSON and text
// handlers, and by json.Marshal (its error text, if it fails).
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

// encodings are the ways fmt or an encoder could spell s: as is, as hex,
// base64 and fmt's byte list ("[116 101 ...]" without the brackets).
func encodings(s string) []string {
	b := []byte(s)
	return []string{s, hex.EncodeToString(b), base64.StdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		strings.Trim(fmt.Sprint(b), "[]")}
}
