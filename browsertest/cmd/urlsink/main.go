// Command urlsink is a $BROWSER stand-in for the real-browser relay test:
// it appends its single argument, the URL the relay wants opened, as one
// line to the file named by $URLSINK_FILE and exits at once, so the test
// can open that URL in headless Chromium itself.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: urlsink URL (with URLSINK_FILE set)")
		os.Exit(2)
	}
	path := os.Getenv("URLSINK_FILE")
	if path == "" {
		fmt.Fprintln(os.Stderr, "urlsink: URLSINK_FILE is not set")
		os.Exit(2)
	}
	u := os.Args[1]
	if strings.ContainsAny(u, "\r\n") {
		fmt.Fprintln(os.Stderr, "urlsink: the URL contains a line break")
		os.Exit(2)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "urlsink:", err)
		os.Exit(1)
	}
	// One write of the whole line: the reader never sees half a URL
	// followed by nothing, since it only takes lines ending in \n.
	if _, err := f.WriteString(u + "\n"); err != nil {
		f.Close()
		fmt.Fprintln(os.Stderr, "urlsink:", err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "urlsink:", err)
		os.Exit(1)
	}
}
