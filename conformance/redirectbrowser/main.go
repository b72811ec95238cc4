// Command redirectbrowser is the $BROWSER of the conformance tests
// (conformance/): the suite's authorization endpoint answers with an
// immediate redirect to the client's redirect URI, so a browser only has
// to follow redirects until a page answers, as a real one would.
//
// Unlike internal/fakebrowser it fills in no form, and it waits for a
// loopback address that refuses the connection: mcp-remote opens the
// browser before its callback listens.
//
// $REDIRECTBROWSER_LOG, if set, names a file that gets one line per hop:
// the status and the URL without its query (which holds the code).
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"time"
)

const (
	maxHops     = 10
	waitRefused = 30 * time.Second // how long a refusing loopback address is retried
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: redirectbrowser URL")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := browse(ctx, os.Args[1]); err != nil {
		note("error: " + err.Error())
		fmt.Fprintln(os.Stderr, "redirectbrowser:", err)
		os.Exit(1)
	}
}

// browse follows redirects from raw until an answer that is not one.
func browse(ctx context.Context, raw string) error {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	for range maxHops {
		resp, err := get(ctx, c, u)
		if err != nil {
			return err
		}
		resp.Body.Close()
		note(fmt.Sprintf("%d %s", resp.StatusCode, bare(u)))
		if resp.StatusCode/100 != 3 {
			return nil // a page: where a person would read the result
		}
		loc, err := resp.Location()
		if err != nil {
			return fmt.Errorf("%d from %s without a usable Location", resp.StatusCode, bare(u))
		}
		u = loc
	}
	return errors.New("too many redirects")
}

// get fetches u; a loopback address that refuses the connection is tried
// again every 100 ms for up to waitRefused.
func get(ctx context.Context, c *http.Client, u *url.URL) (*http.Response, error) {
	deadline := time.Now().Add(waitRefused)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", bare(u), err)
		}
		resp, err := c.Do(req)
		if err == nil {
			return resp, nil
		}
		if !errors.Is(err, syscall.ECONNREFUSED) || !loopback(u) || time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: connection failed", bare(u))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func loopback(u *url.URL) bool {
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// bare is u without its query and fragment.
func bare(u *url.URL) string {
	v := *u
	v.RawQuery, v.Fragment, v.User = "", "", nil
	return v.String()
}

func note(line string) {
	p := os.Getenv("REDIRECTBROWSER_LOG")
	if p == "" {
		return
	}
	if f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
		fmt.Fprintln(f, line)
		f.Close()
	}
}
