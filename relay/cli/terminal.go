package cli

// OnTerminal is what `relay serve` says on stderr when its stdin is a
// terminal: a person, not an MCP client, started it.
const OnTerminal = "relay: this is an MCP server on stdio, started by an MCP client such as Claude Code;\n" +
	"relay: it now waits for JSON-RPC on stdin (Ctrl-C quits).\n" +
	"relay: to try keyrelay: `relay login` signs in, `relay status` shows the state, `relay help` lists the commands.\n"
