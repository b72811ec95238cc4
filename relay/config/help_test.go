package config

import (
	"bytes"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestHelp(t *testing.T) {
	var b bytes.Buffer
	testkit.NoErr(t, Help(&b, nil))
	out := b.String()
	for _, want := range []string{"relay [serve] [flags]", "relay login [--force] [--device] [flags]", "relay logout [flags]",
		"relay status [--json] [flags]", "relay version", "Exit codes: 0 ok, 1 error, 2 usage or configuration, 3 sign-in failed, 4 logout incomplete, 5 logged out here but NOT revoked at the server."} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	for _, v := range Vars {
		if !strings.Contains(out, "  "+v.Name+" ") {
			t.Errorf("help lacks setting %s", v.Name)
		}
	}
}

func TestHelpCommand(t *testing.T) {
	var b bytes.Buffer
	if err := Help(&b, []string{"version"}); err != nil || b.String() != "relay version\n  Print the version.\n" {
		t.Fatalf("got %q %v", b.String(), err)
	}
	b.Reset()
	if err := Help(&b, []string{"nope"}); err == nil || err.Error() != `no help for "nope"` || b.Len() != 0 {
		t.Fatalf("got %q %v", b.String(), err)
	}
}
