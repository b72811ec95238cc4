package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// terminalPrompt asks for the vault passphrase without echo, on the
// terminal. It fails when stdin is not a terminal.
func terminalPrompt(w io.Writer) func(context.Context, string) (secret.Value, error) {
	return func(_ context.Context, prompt string) (secret.Value, error) {
		if !isTerminal(os.Stdin) {
			return secret.Value{}, errors.New("the vault needs a passphrase and stdin is not a terminal; set RELAY_VAULT_PASSPHRASE_FILE")
		}
		fmt.Fprintf(w, "%s: ", prompt)
		b, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(w)
		if err != nil {
			return secret.Value{}, fmt.Errorf("read passphrase: %w", err)
		}
		return secret.New(string(b)), nil
	}
}
