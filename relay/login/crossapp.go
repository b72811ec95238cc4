package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/relay/signin"
	"github.com/keyrelay/keyrelay/vault"
)

// CrossApp configures cross-app access (SEP-990, enterprise-managed
// authorization): the person signs in once at the enterprise identity
// provider; for each MCP server the relay trades the ID token there for
// an ID-JAG (RFC 8693 token exchange) and presents that at the server's
// authorization server (RFC 7523 jwt-bearer grant), authenticating with
// the static client of Interactive (RELAY_CLIENT_ID and its secret or
// key). No consent page per server: the identity provider decides.
type CrossApp struct {
	// Issuer is the identity provider (RELAY_IDP_ISSUER), canonical.
	Issuer string
	// ClientID is the relay's client there (RELAY_IDP_CLIENT_ID).
	ClientID string
	// IDTokenFile (RELAY_IDP_ID_TOKEN_FILE), when set, holds the ID
	// token, written by the platform that runs the relay; it is read,
	// with the secret-file checks, at each use. Empty: the relay signs in
	// to the identity provider in the browser (authorization code with
	// PKCE, scope openid) and keeps its tokens in the vault, one session
	// for every MCP server.
	IDTokenFile string
	// ReadFile reads IDTokenFile with the secret-file checks (the user's
	// own, no symlink, readable by no one else: platform.ReadSecretFile),
	// at most limit bytes.
	ReadFile func(path string, limit int64) ([]byte, error)
	// HTTP makes the requests to the identity provider; nil: the
	// Interactive's client's.
	HTTP *http.Client
}

// IdPSessionResource marks the vault record of an identity provider
// session (its ID, access and refresh tokens), apart from every token
// and client record.
const IdPSessionResource = "keyrelay:idp-session"

// IdPAccount keys the identity provider session of clientID at issuer:
// shared by every MCP server the relay reaches through it.
func IdPAccount(issuer, clientID string) vault.Account {
	return vault.Account{Issuer: issuer, ClientID: clientID, Resource: IdPSessionResource}
}

// maxIDTokenFile caps RELAY_IDP_ID_TOKEN_FILE.
const maxIDTokenFile = 64 << 10

// idTokenMargin: an ID token that expires within it is not used.
const idTokenMargin = time.Minute

// errIdPSignIn asks the broker to prepare again, outside the vault's
// lock: the identity provider session is kept in the vault too.
var errIdPSignIn = fmt.Errorf("an ID token from the identity provider is needed: %w", broker.ErrReprepare)

// idpState is what Interactive keeps of the identity provider. Interactive.mu
// guards it.
type idpState struct {
	md       *oauth.Metadata
	idToken  secret.Value // the session's ID token, once prepared
	rejected secret.Value // an ID token the identity provider refused
	want     bool         // Login needs an ID token: Prepare gets one
	ui       broker.UI    // where Prepare shows a sign-in
}

// crossApp signs in with cross-app access: the ID token, the token
// exchange at the identity provider, the jwt-bearer grant at the MCP
// server's authorization server. Each failure names the server and the
// step. It is called again, from the exchange, when the access token
// expires (no refresh token is expected).
func (i *Interactive) crossApp(ctx context.Context, scopes []string, ui broker.UI) (*oauth.Tokens, error) {
	x := i.CrossApp
	if err := i.Policy.CheckIdPIssuer(x.Issuer); err != nil {
		return nil, &Error{Err: err}
	}
	idTok, err := i.idToken(ui)
	if errors.Is(err, broker.ErrReprepare) {
		return nil, err
	}
	if err != nil {
		return nil, i.stepError("the ID token of the identity provider", x.Issuer, err)
	}
	c, err := i.client(ctx, scopes)
	if err != nil {
		if errors.Is(err, broker.ErrReprepare) {
			return nil, err
		}
		return nil, &Error{Err: err}
	}
	if c.ClientSecret.IsZero() && c.ClientKey.IsZero() {
		return nil, &Error{Err: errors.New("cross-app access: no RELAY_CLIENT_SECRET or RELAY_CLIENT_KEY_FILE given, and none stored in the vault")}
	}
	idp, err := i.idpClient(ctx, scopes)
	if err != nil {
		return nil, i.stepError("discovery of the identity provider", x.Issuer, err)
	}
	i.log().Info("cross-app access: exchanging the ID token at the identity provider", "idp", x.Issuer, "audience", c.Metadata.Issuer, "resource", c.Resource)
	g, err := idp.ExchangeIDToken(ctx, idTok, c.Metadata.Issuer, c.Resource)
	if err != nil {
		if x.IDTokenFile == "" && errors.Is(err, oauth.ErrInvalidGrant) {
			// The session's ID token is no longer good there: refresh
			// or sign in again, once (the broker prepares at most twice).
			i.rejectIDToken(idTok, ui)
			i.log().Warn("cross-app access: the identity provider refused the ID token; getting a new one", "idp", x.Issuer)
			return nil, fmt.Errorf("%w: %w", errIdPSignIn, i.stepError("token exchange at the identity provider", x.Issuer, err))
		}
		return nil, i.stepError("token exchange at the identity provider", x.Issuer, err)
	}
	t, err := c.JWTBearer(ctx, g.Assertion)
	if err != nil {
		return nil, i.stepError("jwt-bearer grant at the authorization server", c.Metadata.Issuer, err)
	}
	i.log().Info("cross-app access: signed in", "idp", x.Issuer, "issuer", c.Metadata.Issuer, "client_id", c.ClientID)
	return t, nil
}

// stepError names the server, the step and who answered.
func (i *Interactive) stepError(step, at string, err error) *Error {
	return &Error{Issuer: at, Err: fmt.Errorf("cross-app access to %s: %s %s: %w", i.Backend, step, at, err)}
}

// idToken returns the ID token to exchange: the file's, read now, or the
// prepared session's; errIdPSignIn when the session has none usable.
func (i *Interactive) idToken(ui broker.UI) (secret.Value, error) {
	x := i.CrossApp
	if x.IDTokenFile != "" {
		return readIDTokenFile(x, i.now())
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	tok := i.idp.idToken
	if !tok.IsZero() && !tok.Equal(i.idp.rejected) && usableIDToken(tok, i.now()) {
		return tok, nil
	}
	i.idp.want, i.idp.ui = true, ui
	return secret.Value{}, errIdPSignIn
}

func (i *Interactive) rejectIDToken(tok secret.Value, ui broker.UI) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.idp.rejected, i.idp.idToken, i.idp.want, i.idp.ui = tok, secret.Value{}, true, ui
}

// readIDTokenFile reads RELAY_IDP_ID_TOKEN_FILE with the secret-file
// checks (the user's own, no symlink, readable by no one else), and
// refuses a token that is not a JWT, was issued by another provider or
// has expired. Errors name the file, never the token.
func readIDTokenFile(x *CrossApp, now time.Time) (secret.Value, error) {
	path, issuer := x.IDTokenFile, x.Issuer
	if x.ReadFile == nil {
		return secret.Value{}, errors.New("RELAY_IDP_ID_TOKEN_FILE: no file reader")
	}
	b, err := x.ReadFile(path, maxIDTokenFile)
	if err != nil {
		return secret.Value{}, fmt.Errorf("RELAY_IDP_ID_TOKEN_FILE: %w", err)
	}
	tok := secret.New(strings.TrimSpace(string(b)))
	c, err := oauth.PeekClaims(tok)
	switch {
	case err != nil:
		return secret.Value{}, fmt.Errorf("RELAY_IDP_ID_TOKEN_FILE %s: %w", path, err)
	case c.Issuer != "" && c.Issuer != issuer:
		return secret.Value{}, fmt.Errorf("RELAY_IDP_ID_TOKEN_FILE %s: the ID token was issued by %q, not by RELAY_IDP_ISSUER %q", path, c.Issuer, issuer)
	case !c.Expiry.IsZero() && !now.Before(c.Expiry):
		return secret.Value{}, fmt.Errorf("RELAY_IDP_ID_TOKEN_FILE %s: the ID token expired at %s; whatever writes the file must renew it", path, c.Expiry.UTC().Format(time.RFC3339))
	}
	return tok, nil
}

// usableIDToken: a JWT that does not expire within idTokenMargin.
func usableIDToken(tok secret.Value, now time.Time) bool {
	c, err := oauth.PeekClaims(tok)
	return err == nil && (c.Expiry.IsZero() || now.Add(idTokenMargin).Before(c.Expiry))
}

// idpMetadata discovers the identity provider once. With an ID token
// file the relay only sends it token exchanges, so its metadata need not
// advertise PKCE (oauth.NoCodeFlow).
func (i *Interactive) idpMetadata(ctx context.Context) (*oauth.Metadata, error) {
	i.mu.Lock()
	md := i.idp.md
	i.mu.Unlock()
	if md != nil {
		return md, nil
	}
	var opts []oauth.DiscoverOption
	if i.CrossApp.IDTokenFile != "" {
		opts = append(opts, oauth.NoCodeFlow())
	}
	md, err := oauth.Discover(ctx, i.idpHTTP(), i.CrossApp.Issuer, opts...)
	if err != nil {
		return nil, err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.idp.md == nil {
		i.idp.md = md
	}
	return i.idp.md, nil
}

func (i *Interactive) idpHTTP() *http.Client {
	if i.CrossApp.HTTP != nil {
		return i.CrossApp.HTTP
	}
	return i.Client.HTTP
}

// idpClient is the relay's public client at the identity provider.
func (i *Interactive) idpClient(ctx context.Context, scopes []string) (*oauth.Client, error) {
	md, err := i.idpMetadata(ctx)
	if err != nil {
		return nil, err
	}
	return &oauth.Client{ClientID: i.CrossApp.ClientID, Scopes: scopes, Metadata: md, HTTP: i.idpHTTP(),
		Now: i.Client.Now, Logger: i.Client.Logger}, nil
}

// prepareIdP gets the session's ID token when Login asked for one: the
// vault's, else a refresh at the identity provider (under the vault's
// lock, so a rotating refresh token is spent once), else a sign-in in
// the browser (outside the lock), whose tokens the vault then keeps.
func (i *Interactive) prepareIdP(ctx context.Context) error {
	if p := i.current(); p != nil {
		return p.err // a sign-in in the background: the same URL
	}
	x := i.CrossApp
	i.mu.Lock()
	want, ui, rejected := i.idp.want, i.idp.ui, i.idp.rejected
	i.mu.Unlock()
	if x == nil || x.IDTokenFile != "" || !want || i.Registry == nil {
		return nil
	}
	if err := i.Policy.CheckIdPIssuer(x.Issuer); err != nil {
		return &Error{Err: err}
	}
	acct := IdPAccount(x.Issuer, x.ClientID)
	var tok secret.Value
	err := i.Registry.Update(ctx, acct, func(cur *vault.Record) (*vault.Record, error) {
		if cur == nil {
			return nil, nil
		}
		if !cur.IDToken.Equal(rejected) && usableIDToken(cur.IDToken, i.now()) {
			tok = cur.IDToken
			return cur, nil
		}
		if cur.RefreshToken.IsZero() {
			return cur, nil
		}
		next, err := i.refreshIdP(ctx, cur)
		switch {
		case err == nil:
			tok = next.IDToken
			return next, nil
		case errors.Is(err, oauth.ErrInvalidGrant), errors.Is(err, errNoIDToken):
			i.log().Warn("cross-app access: the identity provider session could not be refreshed; signing in again", "idp", x.Issuer, "err", err)
			return nil, nil // dropped: a sign-in replaces it
		}
		return nil, i.stepError("refresh at the identity provider", x.Issuer, err)
	})
	if err != nil {
		return err
	}
	if tok.IsZero() {
		rec, err := i.idpSignIn(ctx, ui)
		if err != nil {
			return err
		}
		return i.keepIdPSession(ctx, rec)
	}
	i.mu.Lock()
	i.idp.idToken, i.idp.want, i.idp.ui = tok, false, nil
	i.mu.Unlock()
	return nil
}

// keepIdPSession stores the session of a sign-in at the identity
// provider in the vault, and its ID token for the exchanges.
func (i *Interactive) keepIdPSession(ctx context.Context, rec *vault.Record) error {
	acct := IdPAccount(i.CrossApp.Issuer, i.CrossApp.ClientID)
	if err := i.Registry.Update(ctx, acct, func(*vault.Record) (*vault.Record, error) { return rec, nil }); err != nil {
		return err
	}
	i.log().Info("cross-app access: signed in at the identity provider", "idp", i.CrossApp.Issuer, "sub", rec.Subject)
	i.mu.Lock()
	i.idp.idToken, i.idp.want, i.idp.ui = rec.IDToken, false, nil
	i.mu.Unlock()
	return nil
}

// errNoIDToken: a refresh answer without an ID token.
var errNoIDToken = errors.New("the refresh answer holds no ID token")

// refreshIdP refreshes the session; an answer without a new ID token
// (OpenID Connect Core §12.2 makes it optional) does not do.
func (i *Interactive) refreshIdP(ctx context.Context, cur *vault.Record) (*vault.Record, error) {
	c, err := i.idpClient(ctx, nil)
	if err != nil {
		return nil, err
	}
	t, err := c.Refresh(ctx, cur.RefreshToken)
	if err != nil {
		return nil, err
	}
	if t.IDToken.IsZero() {
		return nil, errNoIDToken
	}
	rec, err := i.sessionRecord(t)
	if err != nil {
		return nil, err
	}
	rec.SignedIn = cur.SignedIn
	i.log().Info("cross-app access: identity provider session refreshed", "idp", i.CrossApp.Issuer, "sub", rec.Subject)
	return rec, nil
}

// idpSignIn signs the person in at the identity provider: OpenID
// Connect, authorization code with PKCE, through the browser and the
// same loopback callback as every sign-in; scope openid, and
// offline_access when the provider lists it.
func (i *Interactive) idpSignIn(ctx context.Context, ui broker.UI) (*vault.Record, error) {
	c, err := i.idpClient(ctx, []string{"openid"})
	if err != nil {
		return nil, i.stepError("discovery of the identity provider", i.CrossApp.Issuer, err)
	}
	if slices.Contains(c.Metadata.ScopesSupported, broker.OfflineAccess) {
		c.Scopes = append(c.Scopes, broker.OfflineAccess)
	}
	l, err := c.StartLogin(ctx, i.callback())
	if err != nil {
		return nil, i.stepError("sign-in at the identity provider", i.CrossApp.Issuer, err)
	}
	url := l.URL()
	p := signin.Prompt{URL: url, Issuer: c.Metadata.Issuer, Server: i.Backend}
	i.log().Log(ctx, promptLevel(ui), "sign-in needed at the identity provider: open this URL in a browser", "url", url, "idp", p.Issuer, "server", p.Server)
	i.prompt(ctx, ui, p)
	// With no browser in the stdio server, the call returns the URL and
	// the sign-in finishes in the background, as any sign-in.
	pend := &Error{URL: url, Issuer: i.CrossApp.Issuer, Pending: true, Err: ErrNoBrowser}
	t, err := i.await(ctx, l, url, pend, func(t *oauth.Tokens) error {
		rec, err := i.sessionRecord(t)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), i.timeout())
		defer cancel()
		return i.keepIdPSession(ctx, rec)
	})
	switch {
	case errors.Is(err, ErrNoBrowser):
		return nil, err
	case err != nil:
		return nil, &Error{URL: url, Issuer: i.CrossApp.Issuer, Err: fmt.Errorf("cross-app access: sign-in at the identity provider %s: %w", i.CrossApp.Issuer, err)}
	}
	rec, err := i.sessionRecord(t)
	if err != nil {
		return nil, i.stepError("sign-in at the identity provider", i.CrossApp.Issuer, err)
	}
	return rec, nil
}

// sessionRecord is the vault record of an identity provider session. The
// ID token came straight from the provider's token endpoint (OpenID
// Connect Core §3.1.3.7: TLS, or a loopback address, stands for its
// signature); its iss and aud are checked all the same, so that a
// misconfigured provider is caught here and not at the exchange.
func (i *Interactive) sessionRecord(t *oauth.Tokens) (*vault.Record, error) {
	if t.IDToken.IsZero() {
		return nil, errors.New("the token answer holds no ID token (is openid among the client's scopes there?)")
	}
	c, err := oauth.PeekClaims(t.IDToken)
	if err != nil {
		return nil, err
	}
	if c.Issuer != i.CrossApp.Issuer || !slices.Contains(c.Audience, i.CrossApp.ClientID) {
		return nil, fmt.Errorf("the ID token names issuer %q and audience %q; want %q and %q", c.Issuer, strings.Join(c.Audience, " "), i.CrossApp.Issuer, i.CrossApp.ClientID)
	}
	now := i.now()
	return &vault.Record{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, IDToken: t.IDToken, TokenType: t.TokenType,
		Scopes: t.Scopes, Subject: c.Subject, Expiry: c.Expiry, SignedIn: now}, nil
}

// IdPSession is what `relay status` shows of the identity provider
// session: never a token.
type IdPSession struct {
	Issuer, ClientID string
	// Source is "RELAY_IDP_ID_TOKEN_FILE" or "sign-in".
	Source  string
	Subject string    // the ID token's sub, when one is held
	Expiry  time.Time // the ID token's expiry, when one is held
	Held    bool      // an ID token is held (the file's, or the vault's)
}

// Session reads the identity provider session with no network call and
// no sign-in: the ID token file's claims, or the vault's record. nil
// when cross-app access is off.
func (i *Interactive) Session(ctx context.Context) (*IdPSession, error) {
	x := i.CrossApp
	if x == nil {
		return nil, nil
	}
	s := &IdPSession{Issuer: x.Issuer, ClientID: x.ClientID, Source: "sign-in"}
	var tok secret.Value
	if x.IDTokenFile != "" {
		s.Source = "RELAY_IDP_ID_TOKEN_FILE"
		b, err := x.ReadFile(x.IDTokenFile, maxIDTokenFile)
		if err != nil {
			return s, fmt.Errorf("RELAY_IDP_ID_TOKEN_FILE: %w", err)
		}
		tok = secret.New(strings.TrimSpace(string(b)))
	} else if i.Registry != nil {
		r, err := i.Registry.Get(ctx, IdPAccount(x.Issuer, x.ClientID))
		switch {
		case errors.Is(err, vault.ErrNotFound):
			return s, nil
		case err != nil:
			return s, err
		}
		tok = r.IDToken
	}
	if tok.IsZero() {
		return s, nil
	}
	c, err := oauth.PeekClaims(tok)
	if err != nil {
		return s, err
	}
	s.Held, s.Subject, s.Expiry = true, c.Subject, c.Expiry
	return s, nil
}

// RevokeIdP asks the identity provider to revoke the session's refresh
// token (else its access token), best effort, for logout; the caller
// wipes the vault. It reports what it did, in one line without a token
// ("" when cross-app access keeps no session), and whether a token the
// provider still honours is left there (not revoked).
func (i *Interactive) RevokeIdP(ctx context.Context) (line string, left bool) {
	x := i.CrossApp
	if x == nil || x.IDTokenFile != "" || i.Registry == nil {
		return "", false
	}
	r, err := i.Registry.Get(ctx, IdPAccount(x.Issuer, x.ClientID))
	if errors.Is(err, vault.ErrNotFound) {
		return "identity provider: no stored session", false
	}
	if err != nil {
		return fmt.Sprintf("identity provider: revocation skipped: %v", err), true
	}
	tok, hint := r.RefreshToken, "refresh_token"
	if tok.IsZero() {
		tok, hint = r.AccessToken, "access_token"
	}
	if tok.IsZero() {
		return "identity provider: no token to revoke; the session is wiped here", false
	}
	c, err := i.idpClient(ctx, nil)
	if err == nil {
		err = c.Revoke(ctx, tok, hint)
	}
	switch {
	case err == nil:
		return fmt.Sprintf("identity provider: the %s was revoked at %s", hint, x.Issuer), false
	case errors.Is(err, oauth.ErrNoRevocation):
		return "identity provider: no revocation endpoint; the session is wiped here only", true
	}
	return fmt.Sprintf("identity provider: revocation failed (%s); the session is wiped here anyway", secret.Scrub(err.Error(), 300, tok)), true
}
