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
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/relay/policy"
)

// Interactive implements broker.Auth with a browser login. The
// authorization server's metadata is discovered on first use, not at start.
type Interactive struct {
	// Issuer is the authorization server. Empty: discovered from Backend's
	// protected resource metadata (RFC 9728) on first use. Its metadata is
	// discovered on first use and kept.
	Issuer string
	// Backend is the backend's URL, for that discovery.
	Backend string
	// Client is the OAuth client template (ClientID, Resource, HTTP, Now,
	// Logger, ExtraAuthParams). Metadata and Scopes are filled per use. An
	// empty ClientID is resolved per client.go: a Client ID Metadata
	// Document, else dynamic registration, else "relay".
	Client oauth.Client
	// ClientSecret is RELAY_CLIENT_SECRET, for a static confidential
	// client: stored in the vault at first use, read from there after.
	ClientSecret secret.Value
	// ClientKey is the PEM private key of RELAY_CLIENT_KEY_FILE, for
	// private_key_jwt: like ClientSecret (never both), stored in the
	// vault at first use and read from there after.
	ClientKey secret.Value
	// ClientCredentials signs in with the client_credentials grant
	// (RELAY_CLIENT_CREDENTIALS): no browser and no device grant, ever.
	ClientCredentials bool
	// CrossApp, when set, signs in with cross-app access (SEP-990,
	// crossapp.go): never the browser sign-in at the MCP server's
	// authorization server, nor the device grant.
	CrossApp *CrossApp
	// ClientMetadataURL is RELAY_CLIENT_METADATA_URL.
	ClientMetadataURL string
	// Registry keeps dynamic registrations, keyed by issuer (the vault).
	Registry Registry
	// Port is the fixed callback port, 0 for a random one.
	Port int
	// CallbackHost is the redirect URI's host: "" or "127.0.0.1", or
	// "localhost" (RELAY_CALLBACK_HOST). See oauth.Callback.
	CallbackHost string
	// CallbackPath is the redirect URI's path, "" for "/callback"
	// (RELAY_CALLBACK_PATH).
	CallbackPath string
	// Timeout bounds one login. Default 5 min.
	Timeout time.Duration
	// Open opens the browser (platform.OpenBrowser). Nil opens nothing.
	Open func(ctx context.Context, url string) error
	// Logger gets the URL (stderr), never a secret.
	Logger *slog.Logger
	// Deliver receives the tokens of a sign-in completed in the
	// background (see Login). Nil: Login always waits.
	Deliver func(*oauth.Tokens)
	// Device always uses the device authorization grant (RFC 8628):
	// `relay login --device`.
	Device bool
	// NoBrowser says no browser can be shown here (an SSH session, no
	// display): Login then uses the device grant when the server offers it.
	NoBrowser bool
	// Policy is the administrator's policy: allowed issuers and
	// authorization-server hosts, and whether the device grant may run.
	// Nil allows everything.
	Policy *policy.Policy
	// AssumePKCE names the issuers whose metadata may omit
	// code_challenge_methods_supported: S256 is assumed for them
	// (oauth.AssumeS256), from RELAY_ASSUME_PKCE_S256 and the policy
	// (config.Config.AssumedPKCE).
	AssumePKCE []policy.Assumption
	// ResourceScopes has a sign-in for which nothing else names scopes
	// ask for the protected resource metadata's scopes_supported, as the
	// MCP authorization specification says for an MCP server (see
	// scopes.go). Off for the backend's tool API, whose scopes_supported
	// lists scopes that a sign-in asks for only on step-up.
	ResourceScopes bool

	mu        sync.Mutex
	md        *oauth.Metadata
	pend      *pending
	found     string       // the issuer discovered from the backend
	disc      discovery    // what that discovery learnt beyond it (issuer.go)
	hint      string       // a resource_metadata URL from a backend challenge
	regID     string       // the dynamic registration's client id, once loaded
	regSecret secret.Value // its secret, if the server issued one
	regMethod string       // its token_endpoint_auth_method, if the server said
	staleID   string       // a registration the server refused: Prepare replaces it
	replaced  bool         // one stale registration was replaced: never again (no loop)
	// the static client's secret, once Prepare has loaded it
	secretLoaded bool
	secret       secret.Value
	secretIsKey  bool // secret is a PEM private key (private_key_jwt)
	// the protected resource metadata's scopes_supported, once read
	supported     []string
	supportedRead bool
	idp           idpState // cross-app access (crossapp.go)
}

// Metadata returns the authorization server's metadata, discovering it once.
func (i *Interactive) Metadata(ctx context.Context) (*oauth.Metadata, error) {
	iss, err := i.issuer(ctx)
	if err != nil {
		return nil, err
	}
	i.mu.Lock()
	md := i.md
	i.mu.Unlock()
	if md != nil {
		return md, nil
	}
	// Discover without holding the mutex: it may take the HTTP timeout,
	// and other methods (a pending sign-in's state) need the mutex.
	md, err = i.discover(ctx, iss)
	if err != nil {
		return nil, i.explainPKCE(iss, err)
	}
	if md.PKCEAssumed {
		i.log().Info("PKCE with S256 assumed: the metadata does not list code_challenge_methods_supported", "issuer", iss, "by", i.assumedBy(iss))
	}
	if err := i.checkEndpoints(md); err != nil {
		return nil, err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.md == nil {
		i.md = md
	}
	return i.md, nil
}

func (i *Interactive) client(ctx context.Context, scopes []string) (*oauth.Client, error) {
	md, err := i.Metadata(ctx)
	if err != nil {
		return nil, err
	}
	c := i.Client
	c.Metadata, c.Scopes, c.Resource = md, scopes, i.resource()
	if c.ClientID, err = i.clientID(md); err != nil {
		return nil, err
	}
	sec, isKey, err := i.credential()
	if err != nil {
		return nil, err
	}
	if isKey {
		c.ClientKey = sec
	} else {
		c.ClientSecret = sec
	}
	c.AuthMethod = i.authMethod()
	c.DPoP = oauth.DPoPFrom(ctx) // the broker's: the vault's key, or none yet
	return &c, nil
}

// ErrNoBrowser means no browser could be opened for the sign-in; the
// error's URL is live and the sign-in completes in the background.
var ErrNoBrowser = errors.New("no browser could be opened")

// Error is a login that did not complete. When Pending, URL is live: the
// person can open it by hand, and the tokens are stored when they finish.
type Error struct {
	URL     string
	Code    string // the device grant's user code, if any
	Issuer  string // the authorization server, when known
	Warning string // why the page deserves a second look (signin.Prompt)
	Pending bool
	Err     error
}

func (e *Error) Error() string {
	at := ""
	if e.Issuer != "" {
		at = " at " + e.Issuer
	}
	warn := ""
	if e.Warning != "" {
		warn = ". " + e.Warning
	}
	switch {
	case e.Pending && e.Code != "":
		return fmt.Sprintf("sign-in needed%s: open %s and enter the code %s, then call the tool again%s", at, e.URL, e.Code, warn)
	case e.Pending:
		return fmt.Sprintf("sign-in needed%s and %v; open this URL to sign in, then call the tool again: %s", at, e.Err, e.URL)
	case errors.Is(e.Err, oauth.ErrLoginTimeout) && errors.Is(e.Err, context.Canceled):
		// Not the login timeout (that is DeadlineExceeded): a signal, or
		// the client cancelled its request.
		return "the sign-in was cancelled before it completed"
	case errors.Is(e.Err, oauth.ErrLoginTimeout):
		return fmt.Sprintf("the sign-in did not complete in time (%v); its link has expired: call the tool again for a new one", e.Err)
	}
	return "sign-in failed: " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// UserText is the error's text, whole: a pending sign-in's URL must reach
// the person uncut.
func (e *Error) UserText() string { return e.Error() }

// pending is a sign-in waiting in the background for a person who opens
// the URL by hand.
type pending struct {
	err  *Error
	done chan struct{}
}

// Login runs one interactive login for scopes. If the server refuses a
// dynamic registration as unknown (invalid_client), the error asks the
// broker to prepare again: Prepare registers anew, once.
func (i *Interactive) Login(ctx context.Context, scopes []string, ui broker.UI) (*oauth.Tokens, error) {
	t, err := i.login(ctx, scopes, ui)
	if err != nil && i.staleRegistration(err) {
		return nil, fmt.Errorf("%w: %w", broker.ErrReprepare, err)
	}
	return t, err
}

// login runs one interactive login for scopes. If the browser cannot be
// opened and Deliver is set (the stdio server), it returns at once with a
// pending *Error carrying the live URL, and keeps waiting in the background
// for up to Timeout; the tokens then go to Deliver. Calls meanwhile get the
// same URL, never a second listener.
func (i *Interactive) login(ctx context.Context, scopes []string, ui broker.UI) (*oauth.Tokens, error) {
	if p := i.current(); p != nil {
		return nil, p.err
	}
	if i.CrossApp != nil {
		return i.crossApp(ctx, scopes, ui)
	}
	c, err := i.client(ctx, scopes)
	if err != nil {
		return nil, &Error{Err: err}
	}
	if i.ClientCredentials {
		return i.clientCredentials(ctx, c)
	}
	if i.Device && !i.Policy.DeviceGrantAllowed() {
		return nil, &Error{Err: fmt.Errorf("%w: the device grant is turned off (disable_device_grant)", policy.ErrDenied)}
	}
	if i.Device || (i.NoBrowser && c.Metadata.DeviceAuthorizationEndpoint != "" && i.Policy.DeviceGrantAllowed()) {
		return i.device(ctx, c, ui)
	}
	l, err := c.StartLogin(ctx, i.callback())
	if err != nil {
		return nil, &Error{Err: err}
	}
	url := l.URL()
	p := i.newPrompt(c, url)
	i.log().Log(ctx, promptLevel(ui), "sign-in needed: open this URL in a browser", "url", url, "issuer", p.Issuer, "server", p.Server)
	i.prompt(ctx, ui, p)
	pend := &Error{URL: url, Issuer: p.Issuer, Pending: true, Err: ErrNoBrowser}
	t, err := i.await(ctx, l, url, pend, func(t *oauth.Tokens) error { i.Deliver(t); return nil })
	switch {
	case errors.Is(err, ErrNoBrowser):
		return nil, err
	case err != nil:
		return nil, &Error{URL: url, Err: err}
	}
	return t, nil
}

// await opens url in the browser and waits for the sign-in l. If the
// browser cannot be opened and Deliver is set (the stdio server), it
// returns pend (wrapping ErrNoBrowser) at once, and the sign-in goes on in
// the background for up to Timeout: its tokens go to deliver, and calls
// meanwhile get pend, never a second listener. Otherwise it waits, up to
// Timeout or ctx's end.
func (i *Interactive) await(ctx context.Context, l *oauth.Login, url string, pend *Error, deliver func(*oauth.Tokens) error) (*oauth.Tokens, error) {
	opened := make(chan error, 1)
	if i.Open != nil {
		// The opener may wait a little for the browser command; the
		// callback must be served meanwhile, so do not block on it.
		go func() { opened <- i.Open(ctx, url) }()
	} else {
		opened <- ErrNoBrowser
	}
	// The wait runs on a context of its own, so that it can outlive this
	// call when handed to the background; the call's ctx still ends it
	// otherwise.
	wctx, cancel := context.WithTimeout(context.Background(), i.timeout())
	waited := make(chan result, 1)
	go func() { t, err := l.Wait(wctx); waited <- result{t, err} }()
	for {
		select {
		case r := <-waited:
			cancel()
			l.Close()
			return r.t, r.err
		case err := <-opened:
			opened = nil
			if err == nil {
				continue
			}
			i.log().Warn("could not open a browser; open the URL by hand", "err", err)
			if i.Deliver != nil {
				return nil, i.hold(pend, func() error {
					r := <-waited
					cancel()
					l.Close()
					if r.err != nil {
						return r.err
					}
					return deliver(r.t)
				})
			}
		case <-ctx.Done():
			cancel()
			<-waited
			l.Close()
			return nil, ctx.Err()
		}
	}
}

type result struct {
	t   *oauth.Tokens
	err error
}

func (i *Interactive) timeout() time.Duration {
	if i.Timeout <= 0 {
		return 5 * time.Minute
	}
	return i.Timeout
}

func (i *Interactive) current() *pending {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.pend
}

// hold lets a sign-in go on after the tool call returns e: finish runs
// in the background (waiting, then handing the tokens on); calls
// meanwhile get e.
func (i *Interactive) hold(e *Error, finish func() error) error {
	p := &pending{err: e, done: make(chan struct{})}
	i.mu.Lock()
	i.pend = p
	i.mu.Unlock()
	go func() {
		// finish hands the tokens on before pend is cleared: a call
		// meanwhile must not start another sign-in.
		if err := finish(); err != nil {
			i.log().Warn("background sign-in did not complete", "err", err)
			i.staleRegistration(err)
		}
		i.mu.Lock()
		i.pend = nil
		i.mu.Unlock()
		close(p.done)
	}()
	return e
}

// Refresh refreshes with the configured client.
//
// A refresh refused with invalid_client after a dynamic registration
// drops the registration and is reported as invalid_grant, so the broker
// signs in again, registering anew.
func (i *Interactive) Refresh(ctx context.Context, rt secret.Value) (*oauth.Tokens, error) {
	c, err := i.client(ctx, nil)
	if err != nil {
		return nil, err
	}
	t, err := c.Refresh(ctx, rt)
	if err != nil && i.staleRegistration(err) {
		return nil, fmt.Errorf("%w (the client registration was stale): %w", oauth.ErrInvalidGrant, err)
	}
	return t, err
}

var _ broker.Revoker = (*Interactive)(nil)

// Revoke revokes tok at the server (RFC 7009), if it has an endpoint.
func (i *Interactive) Revoke(ctx context.Context, tok secret.Value, hint string) error {
	if err := i.prepare(ctx, false); err != nil { // never register just to revoke
		return err
	}
	c, err := i.client(ctx, nil)
	if errors.Is(err, broker.ErrReprepare) {
		return errors.New("no stored client registration to revoke with")
	}
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
