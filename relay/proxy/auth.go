package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/config"
	"github.com/keyrelay/keyrelay/relay/forward"
	"github.com/keyrelay/keyrelay/vault"
)

// Tokens hands out access tokens; *broker.Broker implements it. Every
// method is safe for concurrent use and honours ctx; Token, Unauthorized
// and StepUp may run an interactive sign-in, Cached never does.
type Tokens interface {
	Token(ctx context.Context, ui broker.UI) (secret.Value, error)
	Unauthorized(ctx context.Context, rejected secret.Value, ui broker.UI) (secret.Value, error)
	StepUp(ctx context.Context, rejected secret.Value, required []string, ui broker.UI) (secret.Value, error)
	NotGranted(required []string)
	Cached(ctx context.Context) (vault.Record, error)
}

var _ Tokens = (*broker.Broker)(nil)

// ErrOtherURL refuses a request to any URL but the MCP URL: the token and
// the custom headers never go anywhere else.
var ErrOtherURL = errors.New("proxy: refusing to send credentials to a URL other than the MCP URL")

// errNoCachedToken ends a quiet connection attempt that would need a
// sign-in.
var errNoCachedToken = errors.New("proxy: no usable cached token")

// AuthError is a 401 or 403 that a refresh or step-up did not cure.
type AuthError struct {
	Status    int
	Challenge forward.Challenge
}

func (e *AuthError) Error() string {
	if e.Status == http.StatusUnauthorized {
		return "the MCP server refused the token (401)"
	}
	return "the MCP server refused access (" + forward.Sanitize(e.Challenge.Error, 40) + ")"
}

// authTransport adds the Bearer token and the custom headers to requests to
// the MCP URL, and handles 401 and 403 insufficient_scope: see the package
// doc.
type authTransport struct {
	base     http.RoundTripper
	target   *url.URL
	tokens   Tokens
	resolved func() bool             // nil: the issuer is known
	hint     func(resourceMD string) // nil: ignore resource_metadata
	headers  []config.Header
	log      *slog.Logger
	now      func() time.Time
	endpoint atomic.Pointer[url.URL] // a legacy SSE server's message endpoint, once accepted (endpoint.go)
}

// callOptions travel in a request's context.
type callOptions struct {
	ui     broker.UI
	quiet  bool       // never sign in or refresh: a start-up probe
	cached bool       // the cached token only, even for a POST: a background stream
	rt     *roundTrip // the client's request held across input_required results (mrtr.go)
	signIn bool       // a GET that may sign in: opening a legacy SSE stream (legacysse.go)
}

type optionsKey struct{}

func withOptions(ctx context.Context, o callOptions) context.Context {
	return context.WithValue(ctx, optionsKey{}, o)
}

func optionsFrom(ctx context.Context) callOptions {
	o, _ := ctx.Value(optionsKey{}).(callOptions)
	return o
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !sameEndpoint(req.URL, t.target) && !isEndpoint(req.URL, t.endpoint.Load()) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, ErrOtherURL
	}
	o := optionsFrom(req.Context())
	if o.quiet || o.cached || (req.Method != http.MethodPost && !o.signIn) {
		return t.quietTrip(req, o.quiet)
	}
	return t.authTrip(req, o.ui)
}

// authTrip sends a POST with a token, signing in, refreshing or stepping
// up as the server's answers ask, and retries once.
func (t *authTransport) authTrip(req *http.Request, ui broker.UI) (*http.Response, error) {
	ctx := req.Context()
	if t.resolved != nil && !t.resolved() {
		// The authorization server is not known: the server's 401 names
		// its protected resource metadata (RFC 9728 §5). A server that
		// needs no token simply answers.
		resp, err := t.send(req, secret.Value{})
		if err != nil || resp.StatusCode != http.StatusUnauthorized {
			return capped(resp), err
		}
		t.hintFrom(resp)
		drain(resp)
	}
	tok, err := t.tokens.Token(ctx, ui)
	if err != nil {
		return nil, err
	}
	resp, err := t.send(req, tok)
	if err != nil {
		return nil, err
	}
	ch, status := challenge(resp)
	switch {
	case status == http.StatusUnauthorized:
		t.hintFrom(resp)
		t.log.Info("the MCP server answered 401; getting a new token")
		tok, err = t.tokens.Unauthorized(ctx, tok, ui)
	case status == http.StatusForbidden && ch.Error == "insufficient_scope":
		t.log.Info("the MCP server needs more scope; signing in again", "scope", strings.Join(ch.Scope, " "))
		tok, err = t.tokens.StepUp(ctx, tok, ch.Scope, ui)
	default:
		return capped(resp), nil
	}
	drain(resp)
	if err != nil {
		return nil, err
	}
	return t.final(req, tok)
}

// final sends the one retry; a 401 or 403 now is an *AuthError.
func (t *authTransport) final(req *http.Request, tok secret.Value) (*http.Response, error) {
	resp, err := t.send(req, tok)
	if err != nil {
		return nil, err
	}
	ch, status := challenge(resp)
	if status != http.StatusUnauthorized && status != http.StatusForbidden {
		return capped(resp), nil
	}
	drain(resp)
	if ch.Error == "insufficient_scope" {
		t.tokens.NotGranted(ch.Scope)
	}
	return nil, &AuthError{Status: status, Challenge: ch}
}

// quietTrip sends with the cached token only: start-up probes, the GET
// stream and the DELETE at the end must never open a browser.
func (t *authTransport) quietTrip(req *http.Request, probe bool) (*http.Response, error) {
	var tok secret.Value
	if r, err := t.tokens.Cached(req.Context()); err == nil && (r.Expiry.IsZero() || t.now().Before(r.Expiry)) {
		tok = r.AccessToken
	}
	if tok.IsZero() && probe {
		return nil, errNoCachedToken
	}
	resp, err := t.send(req, tok)
	if err != nil {
		return nil, err
	}
	if ch, status := challenge(resp); status == http.StatusUnauthorized || status == http.StatusForbidden {
		drain(resp)
		return nil, &AuthError{Status: status, Challenge: ch}
	}
	return capped(resp), nil
}

// send sends a copy of req with tok (if any) and the custom headers.
func (t *authTransport) send(req *http.Request, tok secret.Value) (*http.Response, error) {
	r := req.Clone(req.Context())
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = body
	}
	for _, h := range t.headers {
		r.Header.Set(h.Name, h.Value.Reveal())
	}
	r.Header.Del("Authorization")
	if !tok.IsZero() {
		r.Header.Set("Authorization", "Bearer "+tok.Reveal())
	}
	return t.base.RoundTrip(r)
}

func (t *authTransport) hintFrom(resp *http.Response) {
	if ch, ok := forward.ParseChallenge(resp.Header.Values("WWW-Authenticate")); ok && ch.ResourceMetadata != "" && t.hint != nil {
		t.hint(ch.ResourceMetadata)
	}
}

// challenge returns the response's status if it is 401 or 403, with its
// Bearer challenge.
func challenge(resp *http.Response) (forward.Challenge, int) {
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		return forward.Challenge{}, resp.StatusCode
	}
	ch, _ := forward.ParseChallenge(resp.Header.Values("WWW-Authenticate"))
	return ch, resp.StatusCode
}

// drain discards a little of an unused body and closes it, so the
// connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
}

// allowEndpoint lets credentials go to u too: the message endpoint of a
// legacy SSE server, checked by messageEndpoint. It replaces the last one.
func (t *authTransport) allowEndpoint(u *url.URL) { t.endpoint.Store(u) }

// sameEndpoint reports whether u is the MCP URL: same scheme, host and
// path, no userinfo.
func sameEndpoint(u, target *url.URL) bool {
	return u.User == nil && strings.EqualFold(u.Scheme, target.Scheme) && strings.EqualFold(u.Host, target.Host) &&
		strings.TrimSuffix(u.EscapedPath(), "/") == strings.TrimSuffix(target.EscapedPath(), "/")
}
