// Package login is the relay's interactive OAuth login: it starts the
// loopback callback, shows the authorization URL (stderr, the MCP client,
// the browser), and waits for the redirect within a timeout.
//
// Security properties: the URL carries only state and the PKCE challenge,
// never the verifier; the browser command gets the URL as one argument,
// with no shell; when the login cannot complete, the error tells the
// person which URL to open by hand.
package login

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/oauth"
)

// Interactive implements broker.Auth with a browser login. The
// authorization server's metadata is discovered on first use, not at start.
type Interactive struct {
	// Issuer is the authorization server; its metadata is discovered on
	// first use and kept.
	Issuer string
	// Client is the OAuth client template (ClientID, Resource, HTTP, Now,
	// Logger). Metadata and Scopes are filled per use.
	Client oauth.Client
	// Port is the fixed callback port, 0 for a random one.
	Port int
	// Timeout bounds one login. Default 5 min.
	Timeout time.Duration
	// Open opens the browser (platform.OpenBrowser). Nil opens nothing.
	Open func(ctx context.Context, url string) error
	// Logger gets the URL (stderr), never a secret.
	Logger *slog.Logger

	mu sync.Mutex
	md *oauth.Metadata
}

// Metadata returns the authorization server's metadata, discovering it once.
func (i *Interactive) Metadata(ctx context.Context) (*oauth.Metadata, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.md != nil {
		return i.md, nil
	}
	md, err := oauth.Discover(ctx, i.Client.HTTP, i.Issuer)
	if err != nil {
		return nil, err
	}
	i.md = md
	return md, nil
}

func (i *Interactive) client(ctx context.Context, scopes []string) (*oauth.Client, error) {
	md, err := i.Metadata(ctx)
	if err != nil {
		return nil, err
	}
	c := i.Client
	c.Metadata, c.Scopes = md, scopes
	return &c, nil
}

var _ broker.Auth = (*Interactive)(nil)

// Error is a login that did not complete; URL is where the person can sign
// in by hand.
type Error struct {
	URL string
	Err error
}

func (e *Error) Error() string {
	if e.URL == "" {
		return "login failed: " + e.Err.Error()
	}
	return fmt.Sprintf("login did not complete (%v); to sign in, open %s", e.Err, e.URL)
}

func (e *Error) Unwrap() error { return e.Err }

// Login runs one interactive login for scopes.
func (i *Interactive) Login(ctx context.Context, scopes []string, ui broker.UI) (*oauth.Tokens, error) {
	c, err := i.client(ctx, scopes)
	if err != nil {
		return nil, &Error{Err: err}
	}
	l, err := c.StartLogin(ctx, i.Port)
	if err != nil {
		return nil, &Error{Err: err}
	}
	defer l.Close()
	url := l.URL()
	i.log().Warn("sign-in needed: open this URL in a browser", "url", url)
	if ui != nil {
		ui.LoginURL(ctx, url)
	}
	if i.Open != nil {
		// The opener may wait a little for the browser command; the
		// callback must be served meanwhile, so do not block on it.
		go func() {
			if err := i.Open(ctx, url); err != nil {
				i.log().Warn("could not open a browser; open the URL by hand", "err", err)
			}
		}()
	}
	timeout := i.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t, err := l.Wait(wctx)
	if err != nil {
		return nil, &Error{URL: url, Err: err}
	}
	return t, nil
}

// Refresh refreshes with the configured client.
func (i *Interactive) Refresh(ctx context.Context, rt secret.Value) (*oauth.Tokens, error) {
	c, err := i.client(ctx, nil)
	if err != nil {
		return nil, err
	}
	return c.Refresh(ctx, rt)
}

// Revoke revokes tok at the server (RFC 7009), if it has an endpoint.
func (i *Interactive) Revoke(ctx context.Context, tok secret.Value, hint string) error {
	c, err := i.client(ctx, nil)
	if err != nil {
		return err
	}
	return c.Revoke(ctx, tok, hint)
}

func (i *Interactive) log() *slog.Logger {
	if i.Logger != nil {
		return i.Logger
	}
	return slog.New(slog.DiscardHandler)
}
