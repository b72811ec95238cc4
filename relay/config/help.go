package config

import (
	"flag"
	"fmt"
	"io"
	"regexp"

	"github.com/keyrelay/keyrelay/internal/helptext"
)

// Help writes `relay help [command]` to w. Without a command: what relay
// is, its commands and every setting with its flag. With one: its usage,
// what it does, its own flags and the settings it reads. It fails, writing
// nothing, for an unknown command. It shows no value from the
// environment.
func Help(w io.Writer, args []string) error {
	if len(args) > 1 {
		return fmt.Errorf("help takes one command, not %d", len(args))
	}
	if len(args) == 1 {
		if HelpFlag(args[0]) { // relay help --help
			args = []string{"help"}
		}
		c, ok := lookup(args[0])
		if !ok {
			return fmt.Errorf("unknown command %q", args[0])
		}
		commandHelp(w, c)
		return nil
	}
	fmt.Fprintln(w, "relay is keyrelay's local MCP server: it signs you in with OAuth, keeps the")
	fmt.Fprintln(w, "tokens in a keychain-sealed vault, and forwards an MCP client's tool calls.")
	fmt.Fprintln(w, "\nusage: relay [command] [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.short)
	}
	fmt.Fprintln(w, "\nrelay help COMMAND (or relay COMMAND --help) shows a command's usage and flags.")
	settingsHelp(w)
	return nil
}

func commandHelp(w io.Writer, c command) {
	fmt.Fprintf(w, "usage: %s\n%s\n", c.synopsis, c.about)
	if c.own != nil {
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.own(fs, &Switches{})
		fmt.Fprintln(w, "\nflags:")
		fs.VisitAll(func(f *flag.Flag) { helptext.Item(w, "--"+f.Name, f.Usage) })
	}
	if c.settings {
		settingsHelp(w)
	}
}

// envOfUsage finds the variable a setting's flag usage names at its end.
var envOfUsage = regexp.MustCompile(`\(([A-Z0-9_]+)\)$`)

// settingsHelp lists Vars, each with its flag.
func settingsHelp(w io.Writer) {
	fs := flag.NewFlagSet("help", flag.ContinueOnError)
	define(fs, &Config{}, &raw{}, func(string) string { return "" })
	flags := map[string]*flag.Flag{}
	fs.VisitAll(func(f *flag.Flag) {
		if m := envOfUsage.FindStringSubmatch(f.Usage); m != nil {
			flags[m[1]] = f
		}
	})
	fmt.Fprintln(w, "\nsettings: a flag or its environment variable (the flag wins):")
	for _, v := range Vars {
		name := v.Name + " (environment only)"
		if f := flags[v.Name]; f != nil {
			name = "--" + f.Name + ", " + v.Name
		}
		helptext.Item(w, name, v.Meaning)
	}
}
