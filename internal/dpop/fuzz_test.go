package dpop

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// FuzzParseProof: any input gives a proof or a ProofError, never a panic,
// and the error never holds the input.
func FuzzParseProof(f *testing.F) {
	k := mustKey(f, ES256)
	f.Add(proofFor(f, k, "POST", testURL, testToken))
	f.Add(proofFor(f, mustKey(f, EdDSA), "GET", testURL, ""))
	f.Add("eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.AA")
	f.Add("..")
	f.Add(`e3siYSI6e319fQ.e30.AA`)
	f.Fuzz(func(t *testing.T, s string) {
		v := newTestVerifier()
		_, err := v.Verify(Request{Proofs: []string{s}, Method: "POST", URL: testURL, AccessToken: testToken})
		if err != nil && len(s) > 8 && strings.Contains(err.Error(), s) {
			t.Fatalf("the error holds the input: %v", err)
		}
		if p, err := parseProof(s); err == nil && (p.header.pub == nil || p.header.jkt == "") {
			t.Fatalf("a parsed proof without its key")
		}
	})
}

// FuzzHTU: normalisation never panics and is idempotent.
func FuzzHTU(f *testing.F) {
	for _, s := range []string{testURL, "http://h/a/../b", "HTTP://H:80/%7e", "https://[::1]:443/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := HTU(s)
		if err != nil {
			return
		}
		b, err := HTU(a)
		if err != nil || a != b {
			t.Fatalf("HTU(%q) = %q, then %q, %v", s, a, b, err)
		}
	})
}

// FuzzNoDuplicates: the duplicate check never panics or hangs.
func FuzzNoDuplicates(f *testing.F) {
	f.Add(`{"a":1,"b":{"a":[1,{"a":2}]}}`)
	f.Add(`{"a":1,"a":2}`)
	f.Add(`[[[[`)
	f.Fuzz(func(t *testing.T, s string) { _ = noDuplicates([]byte(s)) })
}

func TestKeyNeverPrints(t *testing.T) {
	k := mustKey(t, ES256)
	der, _ := k.Marshal()
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "key", k)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %x %q", k, k, k, k, k, k), fmt.Sprintf("%+v", *k), buf.String()} {
		if strings.Contains(s, fmt.Sprint(k.priv)) || bytes.Contains([]byte(s), der) || strings.Contains(s, "D:") {
			t.Fatalf("the key printed: %s", s)
		}
	}
}
