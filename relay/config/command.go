package config

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// Switches are the commands' own flags: login's --force and --device,
// status's --json.
type Switches struct {
	Force  bool // login --force: sign in again even if valid tokens are stored
	Device bool // login --device: the device grant
	JSON   bool // status --json
}

// command is one of relay's commands, for Command, ParseCommand and Help.
type command struct {
	name     string
	synopsis string // the usage line
	short    string // one line, for the list of commands
	about    string // what it does; lines indented by two spaces
	settings bool   // it reads the settings (Vars, and their flags)
	own      func(fs *flag.FlagSet, s *Switches)
}

// commands are relay's commands, in the order help lists them.
var commands = []command{
	{name: "serve", short: "run the MCP stdio server (the default; what an MCP client starts)", synopsis: "relay [serve] [flags]", settings: true, about: `
  Run the MCP stdio server: what an MCP client such as Claude Code starts,
  with this command in its configuration. It answers at once; the sign-in
  happens on the first tool call that needs it. The default command.`},
	{name: "login", short: "sign in ahead of time and store the tokens in the vault", synopsis: "relay login [--force] [--device] [flags]", settings: true, about: `
  Sign in ahead of time in the browser and store the tokens in the vault.
  Exits 3 when the sign-in fails or is refused.`,
		own: func(fs *flag.FlagSet, s *Switches) {
			fs.BoolVar(&s.Force, "force", false, "sign in again even if valid tokens are stored")
			fs.BoolVar(&s.Device, "device", false, "use the device grant (RFC 8628): open a URL on any device and enter a code; "+
				"also chosen by itself when no browser can be shown (SSH, no display)")
		}},
	{name: "logout", short: "revoke the sign-in at the server and wipe every keyrelay credential", synopsis: "relay logout [flags]", settings: true, about: `
  Revoke the refresh token at the authorization server (best effort), then
  wipe every keyrelay credential: keychain items, tokens.age, key.age,
  vault.json. Prints each step; exits 4 if anything remains, 5 if all is
  wiped but the server did not revoke the sign-in.`},
	{name: "status", short: "show whether you are signed in, as whom, and what is wrong", synopsis: "relay status [--json] [flags]", settings: true, about: `
  Show whether you are signed in, as whom, the scopes and expiry, the vault
  key source and data directory, and what is wrong. Never shows a token and
  makes no network call. Exits 0 when signed in and usable, 1 when not,
  2 when the configuration is wrong; --json prints the report in every case.`,
		own: func(fs *flag.FlagSet, s *Switches) {
			fs.BoolVar(&s.JSON, "json", false, "print the report as JSON on stdout")
		}},
	{name: "version", short: "print the version (also --version)", synopsis: "relay version", about: `
  Print the version (also: relay --version).`},
	{name: "help", short: "print this help, or a command's (also -h, --help)", synopsis: "relay help [command]", about: `
  Print the help, or a command's (also: relay --help, relay COMMAND --help).`},
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// Command splits a command line into the command name (default serve)
// and its arguments. A leading -h, -help or --help is the command help,
// and -version or --version the command version.
func Command(args []string) (name string, rest []string) {
	if len(args) == 0 {
		return "serve", nil
	}
	switch {
	case HelpFlag(args[0]):
		return "help", args[1:]
	case args[0] == "-version" || args[0] == "--version":
		return "version", args[1:]
	}
	if args[0] != "" && args[0][0] != '-' {
		return args[0], args[1:]
	}
	return "serve", args
}

// HelpFlag reports whether a is -h, -help or --help.
func HelpFlag(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// ParseCommand parses the arguments of command name: the shared settings
// (see Parse) plus the command's own flags (Switches). An argument that
// starts with "-" and names one of the own flags goes to them, every other
// one to the shared settings.
//
// Every error is a bad command line. It is flag.ErrHelp when -h, -help or
// --help asked for the command's help, which the caller prints (Help);
// nothing is written here.
func ParseCommand(name string, args []string, getenv func(string) string) (*Config, Switches, error) {
	var sw Switches
	var owned, shared []string
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if c, ok := lookup(name); ok && c.own != nil {
		c.own(fs, &sw)
	}
	for _, a := range args {
		if f := fs.Lookup(trimFlag(a)); f != nil && strings.HasPrefix(a, "-") {
			owned = append(owned, a)
			continue
		}
		shared = append(shared, a)
	}
	if err := fs.Parse(owned); err != nil {
		return nil, sw, err
	}
	cfg, rest, err := Parse(name, shared, getenv, io.Discard)
	if err != nil {
		return nil, sw, err
	}
	if len(rest) > 0 {
		if strings.Contains(rest[0], "://") {
			return nil, sw, fmt.Errorf("unexpected argument %q: give a server's URL with --mcp-url or --backend-url", RedactURL(rest[0]))
		}
		return nil, sw, fmt.Errorf("unexpected argument %q", RedactURL(rest[0]))
	}
	return cfg, sw, nil
}

// trimFlag returns the name in a flag argument: "--json=true" is "json".
func trimFlag(a string) string {
	a = strings.TrimLeft(a, "-")
	if i := strings.IndexByte(a, '='); i >= 0 {
		return a[:i]
	}
	return a
}
