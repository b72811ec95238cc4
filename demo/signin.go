package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/client"
)

// loginTimeout bounds the first call's sign-in, the wait for a person
// included.
const loginTimeout = 6 * time.Minute

// pollEvery is how often the demo calls the tool again while a sign-in
// it could not open in a browser is pending. Such a call is cheap: the
// relay answers it from memory with the same page and code, without a
// network call. The relay itself learns of the sign-in by polling the
// authorization server every 5 s (the device grant's interval).
const pollEvery = 2 * time.Second

// signIn calls the tool name, the first call, which needs a sign-in. With
// a browser, the relay opens it and the call returns once the person has
// signed in. Without one, the relay answers at once with a page and a code
// to use from any browser, and finishes the sign-in in the background when
// the person has: the demo shows them, then calls again every pollEvery
// until a call succeeds, for up to loginTimeout. The relay says nothing
// else when the sign-in completes; the next call succeeding is the signal.
func (d *demo) signIn(ctx context.Context, c *client.Client, name string) (string, error) {
	wctx, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	text, failed, err := call(wctx, c, name)
	if err != nil || !failed {
		return text, err
	}
	p, ok := parseSignIn(text)
	if !ok {
		return "", fmt.Errorf("%s failed: %s", name, text)
	}
	// The relay logs each pending call (and this one, maybe after this
	// point: its stderr is a pipe of its own): keep the page and the code
	// on the screen meanwhile.
	d.relayLog.Mute(true)
	defer d.relayLog.Mute(false)
	d.showSignIn(text, p)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		select {
		case <-wctx.Done():
			if err := ctx.Err(); err != nil {
				return "", err
			}
			return "", fmt.Errorf("the sign-in did not finish within %v; run the demo again, or `DEMO_HEADLESS=1 make demo`", loginTimeout)
		case <-tick.C:
		}
		text, failed, err = call(wctx, c, name)
		switch {
		case wctx.Err() != nil:
			continue // a deadline or Ctrl-C: reported above
		case err != nil:
			return "", err
		case !failed:
			fmt.Println("   signed in: the relay finished the sign-in in the background")
			return text, nil
		}
		next, ok := parseSignIn(text)
		if !ok {
			return "", fmt.Errorf("%s failed: %s", name, text)
		}
		if next != p {
			// The relay's sign-in expired and it began another.
			fmt.Println("   the relay began a new sign-in:")
			d.showSignIn(text, next)
			p = next
		}
	}
}

// showSignIn prints the page and the code, each on its own line.
func (d *demo) showSignIn(text string, p pendingSignIn) {
	fmt.Printf("   the relay could not open a browser here; it says:\n%s\n", indent(text))
	fmt.Printf("   open this page in a browser on this machine (or one that can reach it):\n\n       %s\n\n", p.URL)
	if p.Code != "" {
		fmt.Printf("   enter the code:\n\n       %s\n\n", p.Code)
	}
	fmt.Println(`   and sign in as user "demo" with the password shown above.`)
	if u, err := url.Parse(p.URL); err == nil && os.Getenv("SSH_CONNECTION") != "" && u.Port() != "" {
		fmt.Printf("   over SSH, forward the port first: ssh -L %s:127.0.0.1:%s <this host>\n", u.Port(), u.Port())
	}
	fmt.Println("   (no browser at hand? stop with Ctrl-C; `DEMO_HEADLESS=1 make demo` signs in with a scripted browser instead)")
	fmt.Printf("   waiting for the sign-in (up to %v; meanwhile the relay logs to %s)...\n", loginTimeout, d.relayLog.Name())
}

// pendingSignIn is a sign-in the relay could not show in a browser: the
// page to open, and the code to enter there (the device grant), if any.
type pendingSignIn struct{ URL, Code string }

// parseSignIn reads the relay's answer to a call whose sign-in it could
// not open in a browser (relay/login's Error): "sign-in needed at ISSUER:
// open URL and enter the code CODE, then call the tool again", or, for a
// browser sign-in, "sign-in needed at ISSUER and REASON; open this URL to
// sign in, then call the tool again: URL". The relay gives the page and the
// code only in this text (the tool result has no other field, and its log
// notification is the same text), so this is the one place that reads it;
// its test builds the texts with relay/login itself. ok is false for any
// other text.
func parseSignIn(text string) (p pendingSignIn, ok bool) {
	if !strings.Contains(strings.ToLower(text), "sign-in needed") {
		return pendingSignIn{}, false
	}
	words := strings.Fields(text)
	opened := false
	for i, w := range words {
		switch {
		case strings.EqualFold(w, "open"):
			opened = true
		case opened && p.URL == "" && (strings.HasPrefix(w, "http://") || strings.HasPrefix(w, "https://")):
			p.URL = strings.TrimRight(w, ".,;:")
		case strings.EqualFold(w, "code") && i+1 < len(words) && p.Code == "":
			p.Code = strings.TrimRight(words[i+1], ".,;:")
		}
	}
	return p, p.URL != ""
}
