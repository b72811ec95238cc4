package oauth

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/oauth2"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// Login is one interactive login in progress: a loopback listener waiting
// for the browser's redirect. Create it with Client.StartLogin, show URL to
// the user, call Wait once, and Close it (Close after Wait is harmless).
type Login struct {
	c        Client // a copy, with Metadata checked
	state    secret.Value
	pkce     pkce
	host     string // HOST:PORT as the redirect URI names it (see hostOK)
	path     string // the one path served (C10)
	redirect string
	authURL  secret.Value // carries the state

	lns     []net.Listener // 127.0.0.1, and [::1] for a localhost callback
	srv     *http.Server
	served  chan struct{} // closed when every Serve has returned
	closed  chan struct{} // closed by Close
	results chan callbackResult

	mu        sync.Mutex
	accepted  bool // the callback is single-shot (C7)
	waited    atomic.Bool
	closeOnce sync.Once
}

// StartLogin binds the loopback listener (see Callback; the zero Callback
// is 127.0.0.1 on a free port), then builds the authorization URL:
// response_type=code, client_id, redirect_uri cb's http://HOST:PORT/PATH,
// scope, a fresh state, a fresh S256 PKCE challenge, resource and
// ExtraAuthParams. The listener serves until Wait returns or Close is
// called.
func (c *Client) StartLogin(ctx context.Context, cb Callback) (*Login, error) {
	md, err := c.check()
	if err != nil {
		return nil, err
	}
	if err := c.checkLogin(cb); err != nil {
		return nil, err
	}
	if err := c.checkDPoP(); err != nil {
		return nil, err // before the person signs in for nothing
	}
	lns, err := cb.listen(ctx, c.log())
	if err != nil {
		return nil, err
	}
	l := newLogin(*c, lns, cb)
	mdCopy := *md // the login keeps its own view of the metadata
	l.c.Metadata = &mdCopy
	l.authURL = secret.New(l.buildURL(&mdCopy))
	l.serve()
	c.log().Debug("oauth: login started", "client_id", c.ClientID, "redirect_uri", l.redirect, "listeners", len(lns), "scopes", c.Scopes)
	return l, nil
}

// checkLogin validates what only a login needs.
func (c *Client) checkLogin(cb Callback) error {
	if c.Metadata.AuthorizationEndpoint == "" {
		return fmt.Errorf("%w: no authorization_endpoint", ErrBadMetadata)
	}
	if err := c.Metadata.checkPKCE(); err != nil {
		return err
	}
	if err := cb.check(); err != nil {
		return err
	}
	return c.checkExtra()
}

func newLogin(c Client, lns []net.Listener, cb Callback) *Login {
	cb.Port = lns[0].Addr().(*net.TCPAddr).Port
	return &Login{
		c: c, state: newState(), pkce: newPKCE(), lns: lns,
		host:     net.JoinHostPort(cb.host(), strconv.Itoa(cb.Port)),
		path:     cb.path(),
		redirect: cb.RedirectURI(),
		served:   make(chan struct{}),
		closed:   make(chan struct{}),
		results:  make(chan callbackResult, 1),
	}
}

// buildURL makes the authorization URL with x/oauth2.
func (l *Login) buildURL(md *Metadata) string {
	conf := oauth2.Config{
		ClientID:    l.c.ClientID,
		Endpoint:    oauth2.Endpoint{AuthURL: md.AuthorizationEndpoint, TokenURL: md.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: l.redirect,
		Scopes:      l.c.Scopes,
	}
	opts := []oauth2.AuthCodeOption{l.pkce.authOption()}
	if l.c.Resource != "" {
		opts = append(opts, oauth2.SetAuthURLParam("resource", l.c.Resource))
	}
	for k, vs := range l.c.ExtraAuthParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, vs[0]))
	}
	return conf.AuthCodeURL(l.state.Reveal(), opts...)
}

// URL is the authorization URL to open in the browser and to print. It
// carries the state and the PKCE challenge, never the verifier. The Login
// holds it as a secret.Value, so printing a Login does not show the state.
func (l *Login) URL() string { return l.authURL.Reveal() }

// RedirectURI is http://HOST:PORT/PATH, as sent on the authorization and
// token requests.
func (l *Login) RedirectURI() string { return l.redirect }

// Wait blocks until the browser delivers the authorization response, then
// exchanges the code and returns the tokens. It may be called once. It
// returns an error wrapping ErrLoginTimeout when ctx ends first, an *Error
// (ErrAccessDenied for a refusal) when the server redirected with error=,
// and ErrIssuerMismatch or ErrBadCallback for a bad response. The listener
// is closed when Wait returns.
func (l *Login) Wait(ctx context.Context) (*Tokens, error) {
	if !l.waited.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("%w: Wait called twice", ErrConfig)
	}
	defer l.Close()
	select {
	case <-ctx.Done():
		l.c.log().Debug("oauth: login timed out", "client_id", l.c.ClientID)
		return nil, fmt.Errorf("%w: %w", ErrLoginTimeout, context.Cause(ctx))
	case res := <-l.results:
		tok, err := l.finish(ctx, res)
		res.reply <- err == nil
		return tok, err
	}
}

// finish turns an accepted callback into tokens.
func (l *Login) finish(ctx context.Context, res callbackResult) (*Tokens, error) {
	if res.err != nil {
		l.c.log().Debug("oauth: login failed at the callback", "client_id", l.c.ClientID, "err", res.err)
		return nil, res.err
	}
	return l.exchange(ctx, res.code)
}

// Close stops the listener. It is safe to call more than once and from
// any goroutine.
func (l *Login) Close() error {
	l.closeOnce.Do(func() {
		close(l.closed)
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if l.srv.Shutdown(ctx) != nil {
			_ = l.srv.Close()
		}
		<-l.served
	})
	return nil
}
