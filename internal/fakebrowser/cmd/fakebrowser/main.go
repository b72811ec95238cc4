// Command fakebrowser is a $BROWSER stand-in for tests and the scripted
// demo: given an authorization URL of keyrelay's built-in server, it signs
// in as $FAKEBROWSER_USER with $FAKEBROWSER_PASSWORD, presses Allow (or
// Deny when $FAKEBROWSER_DENY=1), and follows the redirect to the relay's
// loopback callback. $FAKEBROWSER_LOG, if set, names a file that gets one
// line per URL opened (for counting browser tabs in tests).
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/keyrelay/keyrelay/internal/fakebrowser"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: fakebrowser URL")
		os.Exit(2)
	}
	if p := os.Getenv("FAKEBROWSER_LOG"); p != "" {
		if f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
			fmt.Fprintln(f, "open")
			f.Close()
		}
	}
	if os.Getenv("FAKEBROWSER_IGNORE") == "1" {
		return // a browser that never completes the login
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := fakebrowser.Login(ctx, os.Args[1], fakebrowser.Options{
		User: os.Getenv("FAKEBROWSER_USER"), Password: os.Getenv("FAKEBROWSER_PASSWORD"), Deny: os.Getenv("FAKEBROWSER_DENY") == "1",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakebrowser:", err)
		os.Exit(1)
	}
	// Like a real browser, exit 0 once the redirect reached the relay,
	// whatever the relay made of it (a denial is answered with 400).
	if res.CallbackStatus == 0 {
		fmt.Fprintln(os.Stderr, "fakebrowser: the flow did not reach the callback")
		os.Exit(1)
	}
}
