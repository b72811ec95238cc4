package broker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyrelay/keyrelay/internal/dpop"
	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/vault"
)

// Auth is the OAuth side: an interactive login and a refresh. Both may take
// long; both must honour ctx. Refresh returns an error wrapping
// oauth.ErrInvalidGrant when the refresh token is dead.
type Auth interface {
	Login(ctx context.Context, scopes []string, ui UI) (*oauth.Tokens, error)
	Refresh(ctx context.Context, refresh secret.Value) (*oauth.Tokens, error)
}

// UI tells the person what is going on during a login. Nil is allowed.
type UI interface {
	// LoginURL is called once the authorization URL is known.
	LoginURL(ctx context.Context, url string)
}

// Store keeps records; *vault.Vault implements it. Update must hold an
// exclusive cross-process lock across fn and write nothing when fn errs.
// Prepare must fail if a later write would (no key source, locked
// keychain), so that no login is done for tokens that cannot be kept.
type Store interface {
	Get(ctx context.Context, acct vault.Account) (vault.Record, error)
	Update(ctx context.Context, acct vault.Account, fn func(*vault.Record) (*vault.Record, error)) error
	Prepare(ctx context.Context) error
	// Version changes whenever the stored records change, in this process
	// or another. It must be cheap: it is read on every call.
	Version() string
}

var _ Store = (*vault.Vault)(nil)

// Prober is an optional part of Store: ProbeWrite fails when a write of
// new tokens would fail now (a full disk, a read-only directory). The
// broker asks before a refresh or a login, which cannot be undone: a
// refresh rotates the refresh token at the server, and losing the new one
// would cost a sign-in.
type Prober interface {
	ProbeWrite() error
}

var _ Prober = (*vault.Vault)(nil)

// Preparer is an optional part of Auth: Prepare does, outside the vault's
// lock, work that needs the vault itself (registering the client). The
// broker calls it when Login or Refresh fails with ErrReprepare.
type Preparer interface {
	Prepare(ctx context.Context) error
}

// Scoper is an optional part of Auth: what the server suggests, for a
// sign-in that neither Scopes nor a challenge gives scopes to ask for.
type Scoper interface {
	// DefaultScopes are the scopes to ask for when nothing else names
	// any: the protected resource metadata's scopes_supported. nil: none.
	DefaultScopes(ctx context.Context) []string
	// Offline reports whether the authorization server lists
	// offline_access in its scopes_supported.
	Offline(ctx context.Context) bool
}

// OfflineAccess is the scope that asks an OpenID Connect server for a
// refresh token (OpenID Connect Core §11).
const OfflineAccess = "offline_access"

// ErrReprepare, wrapped by an Auth error, asks the broker to call Prepare
// again and retry the acquisition once (a stale client registration).
var ErrReprepare = errors.New("broker: prepare again")

// ErrLoginRequired is returned by Cached when no usable token is held.
var ErrLoginRequired = errors.New("broker: login required")

// Broker hands out tokens for one account. It is safe for concurrent use.
type Broker struct {
	// Account keys the tokens in the vault. Resolve, if set, is used
	// instead: it may need the network once (issuer discovery).
	Account vault.Account
	Resolve func(ctx context.Context) (vault.Account, error)
	Store   Store
	Auth    Auth
	// Scopes (RELAY_SCOPES), when set, are asked for at every login,
	// instead of the scopes the server suggests (see loginScopes).
	Scopes []string
	// MaxLifetime, if set, is how long an access token is used after it
	// was received, whatever its own expiry says (the administrator's
	// max_token_lifetime); then it is refreshed.
	MaxLifetime time.Duration
	// MaxSession, if set, is how long a sign-in is used: after that its
	// refresh token is not used, and the next call signs in again (the
	// administrator's max_session). Records without a sign-in time count
	// as too old.
	MaxSession time.Duration
	Now        func() time.Time
	Logger     *slog.Logger

	mu         sync.Mutex
	mem        *vault.Record
	memVersion string               // Store.Version() when mem was read or written
	denied     map[string]time.Time // scopes a step-up asked for and did not get
	signedIn   secret.Value         // the access token of this process's last sign-in
	refusedAt  time.Time            // when the server refused that token at once (Rejected)
	dpop       *dpop.Signer         // the DPoP key of the held record (dpop.go)
	dpopKey    string               // that key as the record holds it
}

// DeniedFor is how long a scope that a step-up sign-in did not grant is
// not asked for again: without it, every call of a tool the account may
// not use would open a browser tab.
const DeniedFor = 10 * time.Minute

// ErrSignInRefused means a sign-in is not started because the server
// refused the token of the last one at once: a server that answers 401 to
// every token would otherwise open a browser tab per call.
var ErrSignInRefused = errors.New("broker: sign-in refused by the server")

// Rejected records that the server answered 401 to tok even after a new
// token was fetched for it. When tok comes from this process's last
// sign-in, no sign-in is started for DeniedFor (ErrSignInRefused), or
// until Relogin.
func (b *Broker) Rejected(tok secret.Value) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.signedIn.IsZero() && b.signedIn.Equal(tok) {
		b.refusedAt = b.now()
		b.log().Warn("the server refused the token of a fresh sign-in; no new sign-in for a while", "for", DeniedFor)
	}
}

// ErrScopeNotGranted means a step-up is refused because a recent sign-in
// asked for the scopes and the server did not grant them.
var ErrScopeNotGranted = errors.New("broker: scope not granted")

// request is what a caller needs from an acquisition.
type request struct {
	need       []string     // scopes the token must carry (nil: any)
	challenged []string     // the scope of the 401 that asked for this token
	reject     secret.Value // a token the backend refused; never returned again
	stepUp     bool         // skip refresh: only a login can add scopes
	required   []string     // for a step-up: the scopes the backend asked for
	force      bool         // a fresh login even if the held token is usable
}

// Token returns a usable access token.
func (b *Broker) Token(ctx context.Context, ui UI) (secret.Value, error) {
	return b.acquire(ctx, request{}, ui)
}

// Unauthorized returns a token other than rejected, after the backend
// answered 401 to it.
func (b *Broker) Unauthorized(ctx context.Context, rejected secret.Value, ui UI) (secret.Value, error) {
	return b.Challenged(ctx, rejected, nil, ui)
}

// Challenged returns a usable token other than rejected after the
// resource answered 401, to rejected or (rejected zero) to a request sent
// without a token. A sign-in it needs asks for scope, the scope of the
// 401's challenge (see loginScopes).
func (b *Broker) Challenged(ctx context.Context, rejected secret.Value, scope []string, ui UI) (secret.Value, error) {
	return b.acquire(ctx, request{reject: rejected, challenged: scope}, ui)
}

// StepUp logs in for the scopes held plus required, after a 403
// insufficient_scope.
//
// Concurrent step-ups for the same rejected token share one sign-in: a
// token newer than the rejected one is returned as is, even if it lacks the
// scopes (the caller's retry then fails with the backend's 403). Scopes
// that a sign-in did not grant are not asked for again for DeniedFor.
func (b *Broker) StepUp(ctx context.Context, rejected secret.Value, required []string, ui UI) (secret.Value, error) {
	b.mu.Lock()
	held := b.heldScopes()
	denied := b.wasDenied(required)
	b.mu.Unlock()
	if denied {
		return secret.Value{}, fmt.Errorf("%w: a recent sign-in asked for %q and the server did not grant it; "+
			"your account may lack it (run `relay login --force` to try again)", ErrScopeNotGranted, strings.Join(required, " "))
	}
	return b.acquire(ctx, request{need: union(held, required), required: required, reject: rejected, stepUp: true}, ui)
}

// NotGranted records that the backend still refused required after a
// step-up sign-in.
func (b *Broker) NotGranted(required []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deny(required)
}

func (b *Broker) deny(scopes []string) {
	if b.denied == nil {
		b.denied = map[string]time.Time{}
	}
	for _, s := range scopes {
		b.denied[s] = b.now()
	}
}

// wasDenied reports whether every scope in required was recently denied.
func (b *Broker) wasDenied(required []string) bool {
	if len(required) == 0 {
		return false
	}
	for _, s := range required {
		t, ok := b.denied[s]
		if !ok || b.now().Sub(t) > DeniedFor {
			return false
		}
	}
	return true
}

// Relogin signs in anew even if a usable token is held (`relay login
// --force`), keeping the scopes held.
func (b *Broker) Relogin(ctx context.Context, ui UI) (secret.Value, error) {
	b.mu.Lock()
	held := b.heldScopes()
	b.mu.Unlock()
	b.mu.Lock()
	b.denied, b.refusedAt = nil, time.Time{}
	b.mu.Unlock()
	return b.acquire(ctx, request{need: held, stepUp: true, force: true}, ui)
}

func (b *Broker) heldScopes() []string {
	if b.mem == nil {
		return nil
	}
	return b.mem.Scopes
}

// acquire serialises every acquisition in the process, then runs one vault
// Update, so other processes are serialised too.
func (b *Broker) acquire(ctx context.Context, req request, ui UI) (secret.Value, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.current() && b.usable(b.mem, req) {
		return b.mem.AccessToken, nil
	}
	if err := b.Store.Prepare(ctx); err != nil {
		return secret.Value{}, err
	}
	acct, err := b.account(ctx)
	if err != nil {
		return secret.Value{}, err
	}
	// Auth may ask, from inside the vault lock, for work it can only do
	// outside it (registering the client): prepare, then try again, at
	// most twice (a first registration, then one stale one).
	var out *vault.Record
	for prepared := 0; ; prepared++ {
		err = b.Store.Update(ctx, acct, func(cur *vault.Record) (*vault.Record, error) {
			if b.usable(cur, req) {
				out = cur
				return cur, nil
			}
			next, err := b.renew(ctx, cur, req, ui)
			out = next
			return next, err
		})
		p, ok := b.Auth.(Preparer)
		if !errors.Is(err, ErrReprepare) || !ok || prepared == 2 {
			break
		}
		if err = p.Prepare(ctx); err != nil {
			break
		}
	}
	if err != nil {
		return secret.Value{}, err
	}
	b.mem, b.memVersion = out, b.Store.Version()
	return out.AccessToken, nil
}

func (b *Broker) account(ctx context.Context) (vault.Account, error) {
	if b.Resolve != nil {
		return b.Resolve(ctx)
	}
	return b.Account, nil
}

// current reports whether the memory copy still matches the store: a
// logout or a refresh by another relay changes the store's version, and
// the next call then reads the store again.
func (b *Broker) current() bool {
	return b.mem != nil && b.memVersion == b.Store.Version()
}

// renew refreshes cur if it can, else logs in. It runs under the vault lock.
func (b *Broker) renew(ctx context.Context, cur *vault.Record, req request, ui UI) (*vault.Record, error) {
	ctx = b.withDPoP(ctx, cur)
	if p, ok := b.Store.(Prober); ok {
		if err := p.ProbeWrite(); err != nil {
			return nil, fmt.Errorf("new tokens could not be stored, so none were requested; the stored tokens are kept: %w", err)
		}
	}
	if cur != nil && b.sessionOver(cur) {
		b.log().Info("the sign-in is older than the policy's max_session; signing in again", "sub", cur.Subject)
	}
	if cur != nil && !cur.RefreshToken.IsZero() && !req.stepUp && covers(cur.Scopes, req.need) && !b.sessionOver(cur) {
		t, err := b.Auth.Refresh(ctx, cur.RefreshToken)
		switch {
		case err == nil:
			b.log().Info("token refreshed", "sub", cur.Subject)
			return b.record(cur, t), nil
		case !errors.Is(err, oauth.ErrInvalidGrant):
			return nil, fmt.Errorf("refresh failed; the stored tokens are kept: %w", err)
		}
		b.log().Warn("refresh token no longer valid; logging in again", "sub", cur.Subject)
	}
	scopes := b.loginScopes(ctx, cur, req)
	if !b.refusedAt.IsZero() && b.now().Sub(b.refusedAt) < DeniedFor {
		return nil, fmt.Errorf("%w: the server refused the token of the last sign-in at once; keyrelay opens no sign-in page "+
			"for %v (check the server's configuration, then run `relay login --force`)", ErrSignInRefused, DeniedFor)
	}
	t, err := b.Auth.Login(ctx, scopes, ui)
	if err != nil {
		return nil, err
	}
	r := b.record(nil, t)
	b.signedIn = r.AccessToken
	b.log().Info("logged in", "sub", r.Subject, "scopes", strings.Join(r.Scopes, " "))
	if missing := missingFrom(r.Scopes, req.required); len(missing) > 0 {
		b.log().Warn("the sign-in did not grant the scopes the backend asked for", "missing", strings.Join(missing, " "))
		b.deny(missing)
	}
	return r, nil
}

// loginScopes are the scopes a sign-in asks for, in the order of the MCP
// authorization specification's scope selection strategy:
//   - Scopes (RELAY_SCOPES) when set: the person's choice comes first;
//   - else the scope of the 401 challenge that led to the sign-in;
//   - else, unless it is a step-up, the Auth's DefaultScopes (the
//     protected resource metadata's scopes_supported);
//   - else none: no scope parameter, and the server grants its default;
//
// and in every case the scopes the request needs (a step-up's: those held
// and those the 403 named; RFC 6750 §3.1 has the challenge name what the
// request needs, so the client keeps what it held), and for a step-up the
// replaced record's. When Scopes is not set and something is asked for,
// offline_access is added if the authorization server lists it: the
// relay wants refresh tokens, and SEP-2207 lets a client ask for them so
// (never when the server does not list it, and never alone: a request
// for offline_access only could get a token without the server's
// default scopes).
func (b *Broker) loginScopes(ctx context.Context, cur *vault.Record, req request) []string {
	sc, _ := b.Auth.(Scoper)
	base := b.Scopes
	if len(base) == 0 {
		base = req.challenged
	}
	if len(base) == 0 && len(req.required) == 0 && sc != nil {
		base = sc.DefaultScopes(ctx)
	}
	scopes := union(base, req.need)
	if cur != nil && req.stepUp {
		scopes = union(scopes, cur.Scopes)
	}
	if len(b.Scopes) == 0 && len(scopes) > 0 && !slices.Contains(scopes, OfflineAccess) && sc != nil && sc.Offline(ctx) {
		scopes = append(scopes, OfflineAccess)
	}
	return scopes
}

// usable reports whether r can serve req now.
func (b *Broker) usable(r *vault.Record, req request) bool {
	if req.force || r == nil || r.AccessToken.IsZero() {
		return false
	}
	if !req.reject.IsZero() && r.AccessToken.Equal(req.reject) {
		return false
	}
	// A step-up is satisfied by any token newer than the rejected one:
	// another caller's sign-in for the same 403 must not be repeated.
	if !req.stepUp && !covers(r.Scopes, req.need) {
		return false
	}
	return !b.expiring(r) && !b.sessionOver(r)
}

// expiring reports whether r expires within its margin: a quarter of its
// lifetime, at most one minute. A record without expiry never expires here;
// the backend's 401 decides.
func (b *Broker) expiring(r *vault.Record) bool {
	exp := r.Expiry
	if b.MaxLifetime > 0 && !r.Updated.IsZero() {
		// A record stored before the policy may carry a later expiry.
		if c := r.Updated.Add(b.MaxLifetime); exp.IsZero() || c.Before(exp) {
			exp = c
		}
	}
	if exp.IsZero() {
		return false
	}
	margin := time.Minute
	if !r.Updated.IsZero() {
		if life := exp.Sub(r.Updated); life/4 < margin {
			margin = max(life/4, 0)
		}
	}
	return !b.now().Add(margin).Before(exp)
}

// sessionOver reports whether r's sign-in is older than MaxSession.
func (b *Broker) sessionOver(r *vault.Record) bool {
	if b.MaxSession <= 0 {
		return false
	}
	return r.SignedIn.IsZero() || !b.now().Before(r.SignedIn.Add(b.MaxSession))
}

// record makes the record for new tokens t (see merge), with the expiry
// capped by MaxLifetime.
func (b *Broker) record(cur *vault.Record, t *oauth.Tokens) *vault.Record {
	now := b.now()
	r := merge(cur, t, now)
	if b.MaxLifetime > 0 {
		if c := now.Add(b.MaxLifetime); r.Expiry.IsZero() || c.Before(r.Expiry) {
			r.Expiry = c
		}
	}
	return r
}

// Adopt stores tokens from a sign-in that completed in the background
// (the person opened the URL by hand after the tool call returned).
func (b *Broker) Adopt(ctx context.Context, t *oauth.Tokens) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.record(nil, t)
	acct, err := b.account(ctx)
	if err != nil {
		return err
	}
	err = b.Store.Update(ctx, acct, func(cur *vault.Record) (*vault.Record, error) {
		if cur != nil {
			out.Registration = cur.Registration
		}
		return out, nil
	})
	if err != nil {
		return err
	}
	b.mem, b.memVersion = out, b.Store.Version()
	b.log().Info("signed in (completed in the browser after the call returned)", "sub", out.Subject)
	return nil
}

// Cached returns a held token without any network call or login, or
// ErrLoginRequired.
func (b *Broker) Cached(ctx context.Context) (vault.Record, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.current() {
		return *b.mem, nil
	}
	acct, err := b.account(ctx)
	if err != nil {
		return vault.Record{}, err
	}
	r, err := b.Store.Get(ctx, acct)
	if errors.Is(err, vault.ErrNotFound) {
		return vault.Record{}, ErrLoginRequired
	}
	return r, err
}

// Forget drops the in-memory copy (after logout).
func (b *Broker) Forget() {
	b.mu.Lock()
	b.mem = nil
	b.mu.Unlock()
}

func (b *Broker) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *Broker) log() *slog.Logger {
	if b.Logger != nil {
		return b.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// merge makes the record for new tokens t, keeping cur's refresh token if
// the server did not rotate it.
func merge(cur *vault.Record, t *oauth.Tokens, now time.Time) *vault.Record {
	r := &vault.Record{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: t.TokenType,
		Scopes: slices.Clone(t.Scopes), Expiry: t.Expiry, Subject: subject(t.AccessToken), Updated: now, SignedIn: now}
	if cur != nil {
		r.SignedIn = cur.SignedIn
		if r.RefreshToken.IsZero() {
			r.RefreshToken = cur.RefreshToken
		}
		if len(r.Scopes) == 0 {
			r.Scopes = cur.Scopes
		}
		r.Registration = cur.Registration
	}
	keepKey(r, cur, t)
	return r
}

// subject reads the sub claim of a JWT access token for display only. It
// verifies nothing: the relay makes no security decision on it.
func subject(tok secret.Value) string {
	parts := strings.Split(tok.Reveal(), ".")
	if len(parts) != 3 || len(parts[1]) > 8192 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Sub string `json:"sub"`
	}
	if json.Unmarshal(b, &c) != nil || len(c.Sub) > 256 {
		return ""
	}
	return c.Sub
}

func missingFrom(have, want []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			out = append(out, w)
		}
	}
	return out
}

func covers(have, need []string) bool {
	for _, n := range need {
		if !slices.Contains(have, n) {
			return false
		}
	}
	return true
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
