package config

import (
	"bytes"
	"flag"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// settingFlags are the names of the settings' flags, as Parse defines them.
func settingFlags() []string {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	define(fs, &Config{}, &raw{}, func(string) string { return "" })
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

func TestHelp(t *testing.T) {
	var b bytes.Buffer
	testkit.NoErr(t, Help(&b, nil))
	out := b.String()
	for _, c := range commands {
		if !strings.Contains(out, "\n  "+c.name+" ") {
			t.Errorf("help lacks command %s", c.name)
		}
	}
	for _, v := range Vars {
		if !strings.Contains(out, v.Name+"\n") && !strings.Contains(out, v.Name+" (environment only)\n") {
			t.Errorf("help lacks setting %s", v.Name)
		}
	}
	// Every flag is listed with its variable: a new flag whose usage does
	// not end with "(VAR)", or whose VAR is not in Vars, fails here.
	for _, f := range settingFlags() {
		if !strings.Contains(out, "\n  --"+f+", RELAY_") {
			t.Errorf("help lacks flag --%s with its variable", f)
		}
	}
}

func TestHelpCommand(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		want []string
		not  []string
	}{
		{"serve", []string{"usage: relay [serve] [flags]\n", "  --mcp-url, RELAY_MCP_URL\n", "  --backend-url, RELAY_BACKEND_URL\n", "RELAY_CLIENT_SECRET (environment only)"}, []string{"--force", "--json"}},
		{"login", []string{"usage: relay login [--force] [--device] [flags]\n", "flags:\n  --device\n", "  --force\n", "--vault-key, RELAY_VAULT_KEY"}, []string{"--json"}},
		{"status", []string{"usage: relay status [--json] [flags]\n", "flags:\n  --json\n", "Exits 0 when signed in and usable, 1 when not"}, []string{"--force"}},
		{"logout", []string{"usage: relay logout [flags]\n", "exits 4 if anything remains"}, []string{"flags:"}},
		{"version", []string{"usage: relay version\n", "--version"}, []string{"settings:", "RELAY_"}},
		{"help", []string{"usage: relay help [command]\n"}, []string{"settings:"}},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			var b bytes.Buffer
			testkit.NoErr(t, Help(&b, []string{tc.cmd}))
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("lacks %q:\n%s", w, b.String())
				}
			}
			for _, n := range tc.not {
				if strings.Contains(b.String(), n) {
					t.Errorf("has %q:\n%s", n, b.String())
				}
			}
		})
	}
}

func TestHelpErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"login", "logout"}, "help takes one command, not 2"},
	} {
		var b bytes.Buffer
		if err := Help(&b, tc.args); err == nil || err.Error() != tc.want || b.Len() != 0 {
			t.Errorf("Help(%q) = %v, wrote %q; want %q and nothing written", tc.args, err, b.String(), tc.want)
		}
	}
}

// TestHelpLinesFit: the help wraps its texts; no line is over 80 columns
// but a URL or a long word.
func TestHelpLinesFit(t *testing.T) {
	var b bytes.Buffer
	testkit.NoErr(t, Help(&b, nil))
	for _, c := range commands {
		testkit.NoErr(t, Help(&b, []string{c.name}))
	}
	for _, l := range strings.Split(b.String(), "\n") {
		if len(l) > 80 && strings.Count(strings.TrimSpace(l), " ") > 0 {
			t.Errorf("line of %d columns: %q", len(l), l)
		}
	}
}
