package signin

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/broker"
)

var (
	_ broker.UI = Terminal{}
	_ prompter  = Terminal{}
	_ broker.UI = (*UI)(nil)
	_ prompter  = (*UI)(nil)
)

func TestTerminalTexts(t *testing.T) {
	var b bytes.Buffer
	term := Terminal{W: &b}
	term.LoginURL(context.Background(), "https://as.example/authorize?state=s")
	term.DeviceCode(context.Background(), "https://as.example/device", "WDJB-MJHT")
	want := "relay: opening your browser to sign in. If it does not open, visit:\n\n  https://as.example/authorize?state=s\n\n" +
		"relay: to sign in, open this URL on any device:\n\n  https://as.example/device\n\nand enter the code:\n\n  WDJB-MJHT\n\nWaiting for you to finish...\n"
	if b.String() != want {
		t.Fatalf("got %q\nwant %q", b.String(), want)
	}
}

func TestPassphraseNeedsATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	testkit.NoErr(t, err)
	defer r.Close()
	defer w.Close()
	var b bytes.Buffer
	v, err := Terminal{W: &b, In: r}.Passphrase(context.Background(), "vault passphrase")
	if err == nil || err.Error() != "the vault needs a passphrase and stdin is not a terminal; set RELAY_VAULT_PASSPHRASE_FILE" || !v.IsZero() || b.Len() != 0 {
		t.Fatalf("got %v, wrote %q", err, b.String())
	}
}

// signalWriter signals each write on wrote.
type signalWriter struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan struct{}
}

func (s *signalWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { s.wrote <- struct{}{} }()
	return s.b.Write(p)
}

func TestWaiting(t *testing.T) {
	defer func(d time.Duration) { slowAfter = d }(slowAfter)

	slowAfter = time.Hour // stopped in time: silent
	w := &signalWriter{wrote: make(chan struct{}, 1)}
	Terminal{W: w}.Waiting("relay: waiting for the vault")()
	if w.b.Len() != 0 {
		t.Fatalf("wrote %q though stopped in time", w.b.String())
	}

	slowAfter = 0 // slow: says so once
	stop := Terminal{W: w}.Waiting("relay: waiting for the vault")
	<-w.wrote
	stop()
	if w.b.String() != "relay: waiting for the vault\n" {
		t.Fatalf("wrote %q", w.b.String())
	}
}

// prompter is login.Prompter (which imports this package).
type prompter interface {
	Prompt(ctx context.Context, p Prompt)
}
