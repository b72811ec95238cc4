package signin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// Terminal is the sign-in UI of `relay login` and the other commands run
// by hand: it writes to W (stderr) and reads a passphrase from In.
type Terminal struct {
	W  io.Writer
	In *os.File // the terminal to read a passphrase from; nil: os.Stdin
}

// LoginURL shows the authorization URL, in case no browser opens.
func (t Terminal) LoginURL(ctx context.Context, url string) { t.Prompt(ctx, Prompt{URL: url}) }

// DeviceCode shows a device-grant sign-in: the URI to open on any device
// and the code to enter.
func (t Terminal) DeviceCode(ctx context.Context, uri, code string) {
	t.Prompt(ctx, Prompt{URL: uri, UserCode: code})
}

// Prompt shows a sign-in, with the authorization server (and a warning,
// if any) on a line of its own.
func (t Terminal) Prompt(_ context.Context, p Prompt) {
	if p.UserCode != "" {
		fmt.Fprintf(t.W, "relay: to sign in, open this URL on any device:\n\n  %s\n\nand enter the code:\n\n  %s\n\n", p.URL, p.UserCode)
	} else {
		fmt.Fprintf(t.W, "relay: opening your browser to sign in. If it does not open, visit:\n\n  %s\n\n", p.URL)
	}
	if p.Issuer != "" {
		fmt.Fprintf(t.W, "relay: the authorization server is %s\n", p.Issuer)
	}
	if p.Warning != "" {
		fmt.Fprintf(t.W, "relay: warning: %s\n", p.Warning)
	}
	if p.UserCode != "" {
		fmt.Fprintln(t.W, "Waiting for you to finish...")
	}
}

// ErrNoTerminal: the vault needs a passphrase, and there is no terminal to
// ask it on. A configuration error: RELAY_VAULT_PASSPHRASE_FILE is the
// way without one.
var ErrNoTerminal = errors.New("the vault needs a passphrase and stdin is not a terminal; set RELAY_VAULT_PASSPHRASE_FILE")

// Passphrase asks for the vault passphrase on the terminal, without echo
// (vault.Options.Prompt): it writes the label prompt, then ": ". It fails
// when In is not a terminal: a pipe, a file, or a character device that is
// none, such as /dev/null (what a command started without a terminal gets).
func (t Terminal) Passphrase(_ context.Context, prompt string) (secret.Value, error) {
	in := t.In
	if in == nil {
		in = os.Stdin
	}
	if !term.IsTerminal(int(in.Fd())) {
		return secret.Value{}, ErrNoTerminal
	}
	fmt.Fprintf(t.W, "%s: ", strings.TrimRight(prompt, ": "))
	b, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(t.W)
	if err != nil {
		return secret.Value{}, fmt.Errorf("read passphrase: %w", err)
	}
	return secret.New(string(b)), nil
}

// slowAfter is how long Waiting waits before it speaks.
var slowAfter = time.Second

// Waiting writes msg unless the returned stop is called within a second:
// the vault's lock may be held by a relay waiting for a sign-in. Once
// stop returns, msg is not written.
func (t Terminal) Waiting(msg string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-time.After(slowAfter):
			fmt.Fprintln(t.W, msg)
		case <-done:
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
