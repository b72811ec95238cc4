package config

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// Command splits a command line into the command name (default serve)
// and its arguments.
func Command(args []string) (name string, rest []string) {
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		return args[0], args[1:]
	}
	return "serve", args
}

// ParseCommand parses the arguments of command name: the shared settings
// (see Parse) plus the command's own flags, which own registers (nil:
// none). An argument that starts with "-" and names one of the own flags
// goes to them, every other one to the shared settings.
//
// Every error is a bad command line. It is flag.ErrHelp when -h or -help
// asked for the usage, which is then written to stderr.
func ParseCommand(name string, args []string, getenv func(string) string, stderr io.Writer, own func(*flag.FlagSet)) (*Config, error) {
	var owned, shared []string
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if own != nil {
		own(fs)
	}
	for _, a := range args {
		if f := fs.Lookup(trimFlag(a)); f != nil && strings.HasPrefix(a, "-") {
			owned = append(owned, a)
			continue
		}
		shared = append(shared, a)
	}
	if err := fs.Parse(owned); err != nil {
		return nil, err
	}
	cfg, rest, err := Parse(name, shared, getenv, stderr)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		if strings.Contains(rest[0], "://") {
			return nil, fmt.Errorf("unexpected argument %q: give a server's URL with --mcp-url or --backend-url", RedactURL(rest[0]))
		}
		return nil, fmt.Errorf("unexpected argument %q", RedactURL(rest[0]))
	}
	return cfg, nil
}

// trimFlag returns the name in a flag argument: "--json=true" is "json".
func trimFlag(a string) string {
	a = strings.TrimLeft(a, "-")
	if i := strings.IndexByte(a, '='); i >= 0 {
		return a[:i]
	}
	return a
}
