package vault

import (
	"fmt"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// TestDPoPKeyField: the key is sealed with the tokens and read back; a
// vault written before the field existed still opens; the key never
// prints.
func TestDPoPKeyField(t *testing.T) {
	acct := Account{Issuer: "https://as.example"}
	key := "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg-fake-key-for-test"
	s := state{acct: {AccessToken: secret.New("at"), DPoPKey: secret.New(key), DPoPAlg: "ES256"}}
	b, err := encodeState(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"dpop_key":"`+key+`"`) {
		t.Fatalf("the key is not in the sealed plaintext: %s", b)
	}
	back, err := decodeState(b)
	if err != nil || back[acct].DPoPKey.Reveal() != key || back[acct].DPoPAlg != "ES256" {
		t.Fatalf("round trip: %v", err)
	}
	old := `{"version":1,"accounts":[{"issuer":"https://as.example","access_token":"at","token_type":"Bearer"}]}`
	if back, err = decodeState([]byte(old)); err != nil || !back[acct].DPoPKey.IsZero() {
		t.Fatalf("a vault without the field: %v", err)
	}
	r := s[acct]
	for _, out := range []string{fmt.Sprintf("%v %+v %#v %s %q", r, r, r, r, r), fmt.Sprintf("%v", *r)} {
		if strings.Contains(out, "fake-key") {
			t.Fatalf("the key printed: %s", out)
		}
	}
}
