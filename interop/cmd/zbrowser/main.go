// Command zbrowser is a $BROWSER stand-in for the interop tests: given an
// authorization URL of the zitadel/oidc example OpenID provider, it signs
// in as $ZBROWSER_USER with $ZBROWSER_PASSWORD and follows the redirects
// to the client's loopback redirect_uri, which it fetches. It exits 0 only
// if that answered 200.
//
// The relay gives a browser no stdout or stderr, so $ZBROWSER_LOG, if set,
// names a file that gets "open" for every launch and any error.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/keyrelay/keyrelay/interop/internal/zlogin"
)

func main() {
	log := io.Writer(os.Stderr)
	if p := os.Getenv("ZBROWSER_LOG"); p != "" {
		if f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
			defer f.Close()
			log = io.MultiWriter(os.Stderr, f)
		}
	}
	fmt.Fprintln(log, "open")
	if len(os.Args) != 2 {
		fmt.Fprintln(log, "usage: zbrowser URL")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := zlogin.Login(ctx, os.Args[1], os.Getenv("ZBROWSER_USER"), os.Getenv("ZBROWSER_PASSWORD"), true)
	if err != nil {
		fmt.Fprintln(log, "zbrowser:", err)
		os.Exit(1)
	}
	if res.Status != 200 {
		fmt.Fprintf(log, "zbrowser: callback answered %d: %.300s\n", res.Status, res.Body)
		os.Exit(1)
	}
}
