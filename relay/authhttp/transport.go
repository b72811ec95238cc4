package authhttp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/keyrelay/keyrelay/internal/dpop"
	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/relay/signin"
)

// Tokens hands out access tokens; *broker.Broker implements it. Every
// method is safe for concurrent use and honours ctx. Token, Unauthorized
// and StepUp may run an interactive sign-in; CachedToken never does.
type Tokens interface {
	Token(ctx context.Context, ui broker.UI) (secret.Value, error)
	Unauthorized(ctx context.Context, rejected secret.Value, ui broker.UI) (secret.Value, error)
	StepUp(ctx context.Context, rejected secret.Value, required []string, ui broker.UI) (secret.Value, error)
	NotGranted(required []string)
	CachedToken(ctx context.Context) (secret.Value, error)
}

var _ Tokens = (*broker.Broker)(nil)

// Rejecter is an optional part of Tokens: Rejected hears that the server
// answered 401 to a token fetched after a 401, so that a server refusing
// every token does not get a sign-in per request.
type Rejecter interface {
	Rejected(tok secret.Value)
}

var _ Rejecter = (*broker.Broker)(nil)

// Challenger is an optional part of Tokens: Challenged gets a token after
// a 401, to rejected or (rejected zero) to a request sent without one,
// and a sign-in it needs asks for scope, the scope the 401's challenge
// named (the MCP authorization specification's scope selection
// strategy). Without it, Token and Unauthorized serve, and a sign-in
// asks for the scopes the Tokens choose.
type Challenger interface {
	Challenged(ctx context.Context, rejected secret.Value, scope []string, ui broker.UI) (secret.Value, error)
}

var _ Challenger = (*broker.Broker)(nil)

// Holder is an optional part of Tokens: Holds reports, without a sign-in
// or a refresh, whether a token is held that Token can use. A request
// that may sign in goes first without a token when none is held, so that
// the resource's 401 names the scope to sign in for; a token held goes at
// once, so no call pays a round trip for it. Without it, a request goes
// without a token first only while Resolved says the authorization server
// is not known.
type Holder interface {
	Holds(ctx context.Context) bool
}

var _ Holder = (*broker.Broker)(nil)

// Transport adds the Bearer token to requests and applies the policy in
// the package doc. It is safe for concurrent use.
type Transport struct {
	// Base sends the requests; it must refuse URLs that may not get the
	// token.
	Base   http.RoundTripper
	Tokens Tokens
	// Resolved reports whether the authorization server is known; nil:
	// it is. Hint gets a 401's resource_metadata URL; nil: ignored.
	Resolved func() bool
	Hint     func(resourceMetadata string)
	// Peer names the resource in texts and logs: "backend", "MCP server".
	Peer   string
	Logger *slog.Logger
}

// Mode says how one request may get its token.
type Mode int

const (
	// Default is SignIn for a POST, Cached for anything else.
	Default Mode = iota
	// SignIn gets a token, signing in, refreshing or stepping up as the
	// answers ask, and retries once.
	SignIn
	// Anonymous goes first without a token; on a 401, as SignIn.
	Anonymous
	// Cached sends the cached token only: never a sign-in or a refresh.
	Cached
	// Probe is Cached, failing with ErrNoCachedToken when none is held.
	Probe
	// None never sends a token.
	None
)

type modeKey struct{}

// WithMode returns ctx whose requests go in mode m.
func WithMode(ctx context.Context, m Mode) context.Context {
	return context.WithValue(ctx, modeKey{}, m)
}

func modeOf(req *http.Request) Mode {
	m := ModeFrom(req.Context())
	if m == Default {
		if req.Method == http.MethodPost {
			return SignIn
		}
		return Cached
	}
	return m
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch m := modeOf(req); m {
	case None:
		return t.refused(t.send(req, secret.Value{}, false))
	case Cached, Probe:
		return t.cached(req, m == Probe)
	case Anonymous:
		return t.signIn(req, true)
	}
	return t.signIn(req, t.anonymousFirst(req.Context()))
}

// anonymousFirst reports whether a request that may sign in goes first
// without a token: while the authorization server is not known (its 401
// names the protected resource metadata, RFC 9728 §5), or while no token
// is held (its 401 names the scope to ask for). Resolved is asked first,
// so that no discovery runs to find out whether a token is held.
func (t *Transport) anonymousFirst(ctx context.Context) bool {
	if t.Resolved != nil && !t.Resolved() {
		return true
	}
	h, ok := t.Tokens.(Holder)
	return ok && !h.Holds(ctx)
}

// signIn sends req with a token, and cures one 401 or 403
// insufficient_scope.
func (t *Transport) signIn(req *http.Request, anonymousFirst bool) (*http.Response, error) {
	ctx := req.Context()
	ui := uiOf(ctx)
	sent := false // the request's own body is spent: a retry reads GetBody
	send := func(tok secret.Value) (*http.Response, error) {
		resp, err := t.send(req, tok, sent)
		sent = true
		return resp, err
	}
	var tok secret.Value
	var err error
	if anonymousFirst {
		resp, serr := send(secret.Value{})
		if serr != nil || resp.StatusCode != http.StatusUnauthorized {
			return t.refused(resp, serr)
		}
		ch, _ := challenge(resp)
		t.hintFrom(resp)
		drain(resp)
		tok, err = t.challenged(ctx, secret.Value{}, ch, ui)
	} else {
		tok, err = t.Tokens.Token(ctx, ui)
	}
	if err != nil {
		return nil, &SignInError{err}
	}
	resp, err := send(tok)
	if err != nil {
		return nil, err
	}
	ch, status := challenge(resp)
	switch {
	case status == http.StatusUnauthorized:
		t.hintFrom(resp)
		t.log().Info("the "+t.Peer+" answered 401; getting a new token", "path", req.URL.Path)
		tok, err = t.challenged(ctx, tok, ch, ui)
	case status == http.StatusForbidden && ch.Error == "insufficient_scope":
		t.log().Info("the "+t.Peer+" needs more scope; signing in again", "scope", strings.Join(ch.Scope, " "))
		tok, err = t.Tokens.StepUp(ctx, tok, ch.Scope, ui)
	default:
		return t.refused(resp, nil)
	}
	drain(resp)
	if err != nil {
		return nil, &SignInError{err}
	}
	resp, err = send(tok)
	if err == nil {
		switch ch, status := challenge(resp); {
		case status == http.StatusForbidden && ch.Error == "insufficient_scope":
			t.Tokens.NotGranted(ch.Scope)
		case status == http.StatusUnauthorized:
			if r, ok := t.Tokens.(Rejecter); ok {
				r.Rejected(tok)
			}
		}
	}
	return t.refused(resp, err)
}

// challenged gets a token after a 401 whose challenge is ch, to rejected
// or to a request without a token (rejected zero).
func (t *Transport) challenged(ctx context.Context, rejected secret.Value, ch oauth.Challenge, ui broker.UI) (secret.Value, error) {
	if c, ok := t.Tokens.(Challenger); ok {
		if len(ch.Scope) > 0 {
			t.log().Debug("the "+t.Peer+"'s challenge names a scope", "scope", strings.Join(ch.Scope, " "))
		}
		return c.Challenged(ctx, rejected, ch.Scope, ui)
	}
	if rejected.IsZero() {
		return t.Tokens.Token(ctx, ui)
	}
	return t.Tokens.Unauthorized(ctx, rejected, ui)
}

// cached sends req with the cached token only.
func (t *Transport) cached(req *http.Request, probe bool) (*http.Response, error) {
	tok, err := t.Tokens.CachedToken(req.Context())
	if err != nil {
		t.log().Debug("no cached token", "err", err)
	}
	if tok.IsZero() && probe {
		return nil, ErrNoCachedToken
	}
	return t.refused(t.send(req, tok, false))
}

// refused turns a 401 or 403 into an *AuthError; anything else passes.
func (t *Transport) refused(resp *http.Response, err error) (*http.Response, error) {
	if err != nil {
		return nil, err
	}
	ch, status := challenge(resp)
	if status != http.StatusUnauthorized && status != http.StatusForbidden {
		return resp, nil
	}
	drain(resp)
	noDPoP := status == http.StatusUnauthorized && !ch.DPoP && resp.Request != nil &&
		strings.HasPrefix(resp.Request.Header.Get("Authorization"), "DPoP ")
	return nil, &AuthError{Status: status, Challenge: ch, Peer: t.Peer, NoDPoP: noDPoP}
}

// send sends req with tok, if any, and no other Authorization: req itself
// when there is nothing to change, else a copy. A retry sends the body
// again from GetBody. A token bound to a DPoP key goes with the DPoP
// scheme and a fresh proof (dpop.go).
func (t *Transport) send(req *http.Request, tok secret.Value, retry bool) (*http.Response, error) {
	if !retry && tok.IsZero() && req.Header.Get("Authorization") == "" && req.Header.Get("DPoP") == "" {
		return t.Base.RoundTrip(req)
	}
	signer := t.signer(req.Context(), tok)
	resp, err := t.sendOnce(req, tok, signer, retry)
	if err != nil || signer == nil || !nonceAsked(resp, signer, req.URL.String()) || (req.Body != nil && req.GetBody == nil) {
		return resp, err
	}
	// The server wants its nonce in the proof (RFC 9449 §9): once more.
	t.log().Debug("the "+t.Peer+" asked for a DPoP nonce; retrying once", "path", req.URL.Path)
	drain(resp)
	return t.sendOnce(req, tok, signer, true)
}

// sendOnce sends a copy of req with tok, as send says.
func (t *Transport) sendOnce(req *http.Request, tok secret.Value, signer *dpop.Signer, retry bool) (*http.Response, error) {
	r := req.Clone(req.Context())
	if retry && req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = body
	}
	r.Header.Del("Authorization")
	r.Header.Del("DPoP")
	switch {
	case tok.IsZero():
	case signer != nil:
		proof, err := signer.Proof(r.Method, r.URL.String(), tok.Reveal())
		if err != nil {
			return nil, fmt.Errorf("relay: DPoP proof: %w", err)
		}
		r.Header.Set("Authorization", "DPoP "+tok.Reveal())
		r.Header.Set("DPoP", proof)
	default:
		r.Header.Set("Authorization", "Bearer "+tok.Reveal())
	}
	return t.Base.RoundTrip(r)
}

func (t *Transport) hintFrom(resp *http.Response) {
	if t.Hint == nil {
		return
	}
	if ch, ok := oauth.ParseChallenge(resp.Header.Values("WWW-Authenticate")); ok && ch.ResourceMetadata != "" {
		t.Hint(ch.ResourceMetadata)
	}
}

func (t *Transport) log() *slog.Logger {
	if t.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return t.Logger
}

// challenge returns the response's status, with its Bearer challenge if
// it is a 401 or 403.
func challenge(resp *http.Response) (oauth.Challenge, int) {
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		return oauth.Challenge{}, resp.StatusCode
	}
	ch, _ := oauth.ParseChallenge(resp.Header.Values("WWW-Authenticate"))
	return ch, resp.StatusCode
}

// uiOf is the request's sign-in UI as a broker.UI: nil, not a nil
// pointer in an interface, when there is none.
func uiOf(ctx context.Context) broker.UI {
	if ui := signin.FromContext(ctx); ui != nil {
		return ui
	}
	return nil
}

// drain discards a little of an unused body and closes it, so that the
// connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
}

// ModeFrom returns the mode WithMode set on ctx, Default if none.
func ModeFrom(ctx context.Context) Mode {
	m, _ := ctx.Value(modeKey{}).(Mode)
	return m
}
