package config

import (
	"fmt"
	"io"
)

// helps are the commands' usage texts.
var helps = map[string]string{
	"serve":   "relay [serve] [flags]\n  Run the MCP stdio server (what an MCP client starts). It answers at once;\n  sign-in happens on the first tool call that needs it.",
	"login":   "relay login [--force] [--device] [flags]\n  Sign in ahead of time in the browser and store the tokens in the vault.\n  --force signs in again even if valid tokens are stored.\n  --device uses the device grant (RFC 8628): open a URL on any device and enter\n  a code; also chosen by itself when no browser can be shown (SSH, no display).",
	"logout":  "relay logout [flags]\n  Revoke the refresh token at the authorization server (best effort), then\n  wipe every keyrelay credential: keychain items, tokens.age, key.age,\n  vault.json. Prints each step; exits 4 if anything remains, 5 if all is\n  wiped but the server did not revoke the sign-in.",
	"status":  "relay status [--json] [flags]\n  Show whether you are signed in, as whom, the scopes and expiry, the vault\n  key source and data directory. Never shows a token.",
	"version": "relay version\n  Print the version.",
}

// Help writes `relay help [command]` to w: with a command, its usage;
// without, every command's usage, every setting (Vars) and the exit codes.
// It fails, writing nothing, for an unknown command.
func Help(w io.Writer, args []string) error {
	if len(args) > 0 {
		h, ok := helps[args[0]]
		if !ok {
			return fmt.Errorf("no help for %q", args[0])
		}
		fmt.Fprintln(w, h)
		return nil
	}
	fmt.Fprintln(w, "relay: keyrelay's local MCP server: OAuth sign-in, keychain-sealed tokens, tool forwarding.")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range []string{"serve", "login", "logout", "status", "version"} {
		fmt.Fprintf(w, "\n%s\n", helps[c])
	}
	fmt.Fprintln(w, "\nSettings (each has a flag: RELAY_BACKEND_URL is --backend-url, and so on):")
	for _, v := range Vars {
		fmt.Fprintf(w, "  %-28s %s\n", v.Name, v.Meaning)
	}
	fmt.Fprintln(w, "\nExit codes: 0 ok, 1 error, 2 usage or configuration, 3 sign-in failed, 4 logout incomplete, 5 logged out here but NOT revoked at the server.")
	return nil
}
