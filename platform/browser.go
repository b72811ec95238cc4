package platform

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"
)

// EnvBrowser names the variable that chooses the browser command.
const EnvBrowser = "BROWSER"

// browserWait is how long OpenBrowser waits for the launcher to exit before
// assuming it is the browser itself and returning. A variable for tests.
var browserWait = 3 * time.Second

// OpenBrowser opens rawURL in the user's browser.
//
// If $BROWSER is set it is run as the command: split on spaces (no shell, no
// quoting), with the URL appended as its last argument. Otherwise the system
// launcher is used: open on macOS, rundll32 url.dll,FileProtocolHandler on
// Windows, xdg-open elsewhere. No shell is involved on any OS.
//
// Only absolute http and https URLs are accepted, and only if they contain
// no spaces, control characters, non-ASCII characters, nor any of
// " < > \ ^ ` { | } (which URLs must escape anyway); anything else returns
// an error wrapping ErrUnsafeURL. Characters such as $ ( ) ; ' & are
// accepted: no shell ever sees the URL, and valid URLs carry them.
//
// The child gets no stdin, stdout or stderr, so it cannot write into a
// protocol stream. OpenBrowser waits until the child exits (a non-zero exit
// is an error), ctx ends, or a few seconds pass; a child still running then
// is left running and reaped in the background, and OpenBrowser returns nil.
func OpenBrowser(ctx context.Context, rawURL string) error {
	if err := CheckBrowserURL(rawURL); err != nil {
		return err
	}
	argv := browserCommand(os.Getenv(EnvBrowser), rawURL)
	cmd := exec.Command(argv[0], argv[1:]...) // not CommandContext: the browser must outlive ctx
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("platform: start browser %q: %w", argv[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(browserWait)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("platform: browser %q: %w", argv[0], err)
		}
		return nil
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CheckBrowserURL returns an error wrapping ErrUnsafeURL unless rawURL is an
// absolute http(s) URL with a host and no unsafe characters.
func CheckBrowserURL(rawURL string) error {
	if i := strings.IndexFunc(rawURL, unsafeURLRune); i >= 0 {
		return fmt.Errorf("%w: character at byte %d is not allowed", ErrUnsafeURL, i)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%w: not a valid URL", ErrUnsafeURL)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: scheme %q is not http or https", ErrUnsafeURL, u.Scheme)
	}
	if u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%w: URL has no host", ErrUnsafeURL)
	}
	return nil
}

func unsafeURLRune(r rune) bool {
	return r <= ' ' || r == 0x7f || r > 0x7e || strings.ContainsRune("\"<>\\^`{|}", r)
}

// browserCommand returns the argv that opens u: $BROWSER if set, else the
// system launcher.
func browserCommand(envBrowser, u string) []string {
	if f := strings.Fields(envBrowser); len(f) > 0 {
		return append(f, u)
	}
	return systemBrowser(u)
}

// BrowserAvailable reports whether OpenBrowser can plausibly show a page to
// the person at this machine: $BROWSER is set, or this is not a remote
// (SSH) session and a display exists (always on macOS and Windows; DISPLAY
// or WAYLAND_DISPLAY elsewhere). getenv is os.Getenv in production.
func BrowserAvailable(getenv func(string) string) bool {
	if getenv(EnvBrowser) != "" {
		return true
	}
	if getenv("SSH_CONNECTION") != "" || getenv("SSH_TTY") != "" {
		return false
	}
	return hasDisplay(getenv)
}
