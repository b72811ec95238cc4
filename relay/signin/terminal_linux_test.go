package signin

import (
	"context"
	"os"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestF6_PassphrasePrompt: on a terminal, the prompt is the label and one
// ": " (never "passphrase: : "), the passphrase is read without its line
// end; /dev/null, a character device but no terminal (what a command
// started without one gets), is refused before any prompt.
func TestF6_PassphrasePrompt(t *testing.T) {
	master, tty := testkit.OpenPTY(t)
	var b testkit.Buffer
	testkit.NoErr(t, testkit.ErrOf(master.WriteString("correct horse battery staple\n")))
	for _, label := range []string{"New vault passphrase", "Repeat the new passphrase: "} {
		v, err := Terminal{W: &b, In: tty}.Passphrase(context.Background(), label)
		if err != nil || v.Reveal() != "correct horse battery staple" {
			t.Fatalf("%s: %v", label, err)
		}
		testkit.NoErr(t, testkit.ErrOf(master.WriteString("correct horse battery staple\n")))
	}
	if got, want := b.String(), "New vault passphrase: \nRepeat the new passphrase: \n"; got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}

	null, err := os.Open(os.DevNull)
	testkit.NoErr(t, err)
	defer null.Close()
	var nb testkit.Buffer
	v, err := Terminal{W: &nb, In: null}.Passphrase(context.Background(), "Vault passphrase")
	if err == nil || err.Error() != "the vault needs a passphrase and stdin is not a terminal; set RELAY_VAULT_PASSPHRASE_FILE" || !v.IsZero() || nb.String() != "" {
		t.Fatalf("from /dev/null: %v, wrote %q", err, nb.String())
	}
}
