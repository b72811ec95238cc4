package vault

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// P1: an account's Server is part of its key, and survives the file: two
// servers with the same issuer, client and resource (none, or a shared
// one) keep two records.
func TestP1_ServerIsPartOfTheAccount(t *testing.T) {
	a := Account{Issuer: "https://as.example", ClientID: "c", Server: "https://a.example/mcp"}
	b := Account{Issuer: "https://as.example", ClientID: "c", Server: "https://b.example/mcp"}
	s := state{a: {AccessToken: secret.New("token-of-a")}, b: {AccessToken: secret.New("token-of-b")}}
	enc, err := encodeState(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeState(enc)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[a].AccessToken.Reveal() != "token-of-a" || got[b].AccessToken.Reveal() != "token-of-b" {
		t.Fatalf("decoded %d records: %v", len(got), got)
	}
	if again, _ := encodeState(got); !bytes.Equal(again, enc) {
		t.Fatal("the encoding is not deterministic")
	}
	// A file written before Server existed decodes with Server "".
	old := []byte(`{"version":` + strconv.Itoa(formatVersion) + `,"accounts":[{"issuer":"https://as.example","resource":"https://a.example/mcp","access_token":"t"}]}`)
	if st, err := decodeState(old); err != nil || st[Account{Issuer: "https://as.example", Resource: "https://a.example/mcp"}] == nil {
		t.Fatalf("old file: %v %v", st, err)
	}
}
