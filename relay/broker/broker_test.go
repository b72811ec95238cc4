package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/vault"
)

// fakeAuth issues numbered tokens and counts calls.
type fakeAuth struct {
	clk                  *testkit.StepClock
	ttl                  time.Duration
	logins, refreshes    atomic.Int64
	refreshErr, loginErr error
	lastScopes           []string
	mu                   sync.Mutex
	seq                  int
	delay                time.Duration
	bind                 func(context.Context, *oauth.Tokens) // if set, changes what Login and Refresh return
}

func (f *fakeAuth) issue(scopes []string) *oauth.Tokens {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	return &oauth.Tokens{AccessToken: secret.New(fmt.Sprintf("access-%d", f.seq)), RefreshToken: secret.New(fmt.Sprintf("refresh-%d", f.seq)),
		TokenType: "Bearer", Scopes: scopes, Expiry: f.clk.Now().Add(f.ttl)}
}

func (f *fakeAuth) Login(ctx context.Context, scopes []string, _ UI) (*oauth.Tokens, error) {
	f.logins.Add(1)
	f.mu.Lock()
	f.lastScopes = scopes
	f.mu.Unlock()
	if f.loginErr != nil {
		return nil, f.loginErr
	}
	time.Sleep(f.delay)
	if len(scopes) == 0 {
		scopes = []string{"notes:read"}
	}
	return f.issued(ctx, scopes), nil
}

func (f *fakeAuth) Refresh(ctx context.Context, rt secret.Value) (*oauth.Tokens, error) {
	f.refreshes.Add(1)
	time.Sleep(f.delay)
	if f.refreshErr != nil {
		return nil, f.refreshErr
	}
	return f.issued(ctx, []string{"notes:read"}), nil
}

func (f *fakeAuth) issued(ctx context.Context, scopes []string) *oauth.Tokens {
	t := f.issue(scopes)
	if f.bind != nil {
		f.bind(ctx, t)
	}
	return t
}

var acct = vault.Account{Issuer: "http://127.0.0.1:1", ClientID: "relay", Resource: "http://127.0.0.1:2"}

// openVault opens a real vault with an in-memory keychain in dir.
func openVault(t *testing.T, dir string, kc *vault.MemKeychain, clk *testkit.StepClock) *vault.Vault {
	t.Helper()
	v, err := vault.Open(context.Background(), vault.Options{Dir: dir, Keychain: kc, Now: clk.Now})
	testkit.NoErr(t, err)
	return v
}

func newBroker(t *testing.T) (*Broker, *fakeAuth, *testkit.StepClock) {
	t.Helper()
	clk := testkit.NewStepClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	fa := &fakeAuth{clk: clk, ttl: 10 * time.Minute}
	return brokerOn(t, filepath.Join(t.TempDir(), "data"), vault.NewMemKeychain(), fa), fa, clk
}

// brokerOn is a broker for fa on a vault handle of its own on dir, as
// another process would have.
func brokerOn(t *testing.T, dir string, kc *vault.MemKeychain, fa *fakeAuth) *Broker {
	return &Broker{Account: acct, Store: openVault(t, dir, kc, fa.clk), Auth: fa, Now: fa.clk.Now}
}

func mustToken(t *testing.T, b *Broker) string {
	t.Helper()
	tok, err := b.Token(context.Background(), nil)
	testkit.NoErr(t, err)
	return tok.Reveal()
}

func TestFirstUseLogsInAndStores(t *testing.T) {
	b, fa, _ := newBroker(t)
	if got := mustToken(t, b); got != "access-1" || fa.logins.Load() != 1 {
		t.Fatalf("got %s after %d logins", got, fa.logins.Load())
	}
	r, err := b.Store.Get(context.Background(), acct)
	if err != nil || r.RefreshToken.Reveal() != "refresh-1" {
		t.Fatalf("not stored: %v", err)
	}
}

func TestValidTokenReusedWithoutLogin(t *testing.T) {
	b, fa, _ := newBroker(t)
	mustToken(t, b)
	b.Forget() // a fresh process: memory empty, vault full
	if got := mustToken(t, b); got != "access-1" || fa.logins.Load() != 1 || fa.refreshes.Load() != 0 {
		t.Fatalf("got %s, logins %d, refreshes %d", got, fa.logins.Load(), fa.refreshes.Load())
	}
}

func TestC15_ExpiredTokenRefreshedAndRotationStored(t *testing.T) {
	b, fa, clk := newBroker(t)
	mustToken(t, b)
	clk.Advance(9*time.Minute + 30*time.Second) // inside the 1-minute margin
	if got := mustToken(t, b); got != "access-2" || fa.refreshes.Load() != 1 || fa.logins.Load() != 1 {
		t.Fatalf("got %s, refreshes %d", got, fa.refreshes.Load())
	}
	r, _ := b.Store.Get(context.Background(), acct)
	if r.RefreshToken.Reveal() != "refresh-2" {
		t.Fatal("rotated refresh token not stored")
	}
}

func TestC16_InvalidGrantDropsAndLogsInOnce(t *testing.T) {
	b, fa, clk := newBroker(t)
	mustToken(t, b)
	clk.Advance(time.Hour)
	fa.refreshErr = &oauth.Error{Code: "invalid_grant"}
	if got := mustToken(t, b); got != "access-2" || fa.logins.Load() != 2 || fa.refreshes.Load() != 1 {
		t.Fatalf("got %s, logins %d, refreshes %d", got, fa.logins.Load(), fa.refreshes.Load())
	}
}

func TestRefreshFailureKeepsTokensAndOpensNoBrowser(t *testing.T) {
	b, fa, clk := newBroker(t)
	mustToken(t, b)
	clk.Advance(time.Hour)
	fa.refreshErr = errors.New("authorization server answered 500")
	if _, err := b.Token(context.Background(), nil); err == nil {
		t.Fatal("refresh failure hidden")
	}
	if fa.logins.Load() != 1 {
		t.Fatal("a browser login was started on a transient refresh failure")
	}
	r, err := b.Store.Get(context.Background(), acct)
	if err != nil || r.RefreshToken.Reveal() != "refresh-1" {
		t.Fatal("tokens lost on a refresh failure")
	}
}

func TestC15_ConcurrentExpiredCallsRefreshOnce(t *testing.T) {
	b, fa, clk := newBroker(t)
	mustToken(t, b)
	clk.Advance(time.Hour)
	fa.delay = 20 * time.Millisecond
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { mustToken(t, b) })
	}
	wg.Wait()
	if n := fa.refreshes.Load(); n != 1 {
		t.Fatalf("%d refreshes for 20 concurrent calls, want 1", n)
	}
}

func TestC15_TwoBrokersOnOneVaultLoginOnce(t *testing.T) {
	// Two relays (two Vault handles on one directory, as two processes
	// would have) log in once between them.
	dir := filepath.Join(t.TempDir(), "data")
	kc := vault.NewMemKeychain()
	clk := testkit.NewStepClock(time.Now())
	fa := &fakeAuth{clk: clk, ttl: time.Hour, delay: 50 * time.Millisecond}
	b1, b2 := brokerOn(t, dir, kc, fa), brokerOn(t, dir, kc, fa)
	var wg sync.WaitGroup
	for _, b := range []*Broker{b1, b2, b1, b2} {
		wg.Go(func() { mustToken(t, b) })
	}
	wg.Wait()
	if n := fa.logins.Load(); n != 1 {
		t.Fatalf("%d logins, want 1", n)
	}
}

func TestUnauthorizedRefreshesOnce(t *testing.T) {
	b, fa, _ := newBroker(t)
	bad := secret.New(mustToken(t, b))
	tok, err := b.Unauthorized(context.Background(), bad, nil)
	if err != nil || tok.Reveal() != "access-2" || fa.refreshes.Load() != 1 {
		t.Fatalf("got %v %v, refreshes %d", tok.Reveal(), err, fa.refreshes.Load())
	}
	// Another caller that saw the same 401 gets the new token, no second refresh.
	if tok, _ := b.Unauthorized(context.Background(), bad, nil); tok.Reveal() != "access-2" || fa.refreshes.Load() != 1 {
		t.Fatal("second 401 on the same token refreshed again")
	}
}

func TestStepUpLogsInForTheUnion(t *testing.T) {
	b, fa, _ := newBroker(t)
	bad := secret.New(mustToken(t, b))
	tok, err := b.StepUp(context.Background(), bad, []string{"admin"}, nil)
	if err != nil || tok.Reveal() != "access-2" || fa.logins.Load() != 2 || fa.refreshes.Load() != 0 {
		t.Fatalf("step-up: %v logins %d refreshes %d", err, fa.logins.Load(), fa.refreshes.Load())
	}
	if got := fmt.Sprint(fa.lastScopes); got != "[notes:read admin]" {
		t.Fatalf("step-up asked for %s", got)
	}
}

func TestLoginFailureStoresNothing(t *testing.T) {
	b, fa, _ := newBroker(t)
	fa.loginErr = oauth.ErrAccessDenied
	testkit.WantIs(t, testkit.ErrOf(b.Token(context.Background(), nil)), oauth.ErrAccessDenied, "Token")
	testkit.WantIs(t, testkit.ErrOf(b.Store.Get(context.Background(), acct)), vault.ErrNotFound, "something stored after a failed login")
}

func TestSubjectFromJWT(t *testing.T) {
	if s := subject(secret.New("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.sig")); s != "alice" {
		t.Fatalf("subject %q", s)
	}
	if s := subject(secret.New("opaque-token")); s != "" {
		t.Fatalf("subject of opaque %q", s)
	}
}

func TestNoLoginWhenTheVaultCannotStore(t *testing.T) {
	clk := testkit.NewStepClock(time.Now())
	fa := &fakeAuth{clk: clk, ttl: time.Hour}
	kc := vault.NewMemKeychain()
	kc.SetErr(vault.ErrUnavailable) // no keychain and nothing configured: fail closed
	b := brokerOn(t, filepath.Join(t.TempDir(), "d"), kc, fa)
	testkit.WantIs(t, testkit.ErrOf(b.Token(context.Background(), nil)), vault.ErrNoKeySource, "Token")
	if fa.logins.Load() != 0 {
		t.Fatal("a login was done for tokens that could not be stored")
	}
}

func TestLogoutElsewhereIsNoticed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	kc := vault.NewMemKeychain()
	clk := testkit.NewStepClock(time.Now())
	fa := &fakeAuth{clk: clk, ttl: time.Hour}
	b := brokerOn(t, dir, kc, fa)
	mustToken(t, b)
	other := openVault(t, dir, kc, clk) // `relay logout` in another process
	testkit.NoErr(t, testkit.ErrOf(other.Wipe(context.Background())))
	if got := mustToken(t, b); got != "access-2" || fa.logins.Load() != 2 {
		t.Fatalf("token kept after a logout elsewhere: %s, logins %d", got, fa.logins.Load())
	}
}

// stingyAuth never grants the admin scope, like a real identity provider
// whose user is not entitled to it.
type stingyAuth struct{ *fakeAuth }

func (s stingyAuth) Login(ctx context.Context, scopes []string, ui UI) (*oauth.Tokens, error) {
	t, err := s.fakeAuth.Login(ctx, scopes, ui)
	if err == nil {
		t.Scopes = missingFrom([]string{"admin"}, scopes) // everything asked but admin
		t.Scopes = append([]string{}, t.Scopes...)
	}
	return t, err
}

func TestStepUpNotGrantedOpensOneTab(t *testing.T) {
	b, fa, _ := newBroker(t)
	b.Auth = stingyAuth{fa}
	bad := secret.New(mustToken(t, b))
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { _, _ = b.StepUp(context.Background(), bad, []string{"admin"}, nil) })
	}
	wg.Wait()
	if n := fa.logins.Load(); n != 2 {
		t.Fatalf("%d logins for 5 concurrent step-ups, want 2 (first login, one step-up)", n)
	}
	// A later call of the same tool does not open another tab.
	cur := secret.New(mustToken(t, b))
	testkit.WantIs(t, testkit.ErrOf(b.StepUp(context.Background(), cur, []string{"admin"}, nil)), ErrScopeNotGranted, "second step-up")
	if n := fa.logins.Load(); n != 2 {
		t.Fatalf("%d logins after a denied scope, want 2", n)
	}
	// relay login --force clears it.
	if _, err := b.Relogin(context.Background(), nil); err != nil || fa.logins.Load() != 3 {
		t.Fatalf("relogin: %v, %d logins", err, fa.logins.Load())
	}
}

func TestReloginSignsInEvenWithAUsableToken(t *testing.T) {
	b, fa, _ := newBroker(t)
	mustToken(t, b)
	b.Forget() // a new process: `relay login --force`
	if _, err := b.Relogin(context.Background(), nil); err != nil || fa.logins.Load() != 2 {
		t.Fatalf("relogin: %v, %d logins", err, fa.logins.Load())
	}
}

// TestMaxLifetimeCapsTokenUse: with the administrator's max_token_lifetime
// the relay refreshes a token that the server says lives an hour after
// five minutes, and a record stored before the policy is capped too.
func TestMaxLifetimeCapsTokenUse(t *testing.T) {
	b, fa, clk := newBroker(t)
	fa.ttl = time.Hour
	b.MaxLifetime = 5 * time.Minute
	mustToken(t, b)
	r, _ := b.Store.Get(context.Background(), acct)
	if want := clk.Now().Add(5 * time.Minute); !r.Expiry.Equal(want) {
		t.Fatalf("stored expiry %v, want %v (capped)", r.Expiry, want)
	}
	clk.Advance(3 * time.Minute)
	if got := mustToken(t, b); got != "access-1" {
		t.Fatalf("token replaced too early: %s", got)
	}
	clk.Advance(2 * time.Minute)
	if got := mustToken(t, b); got != "access-2" || fa.refreshes.Load() != 1 || fa.logins.Load() != 1 {
		t.Fatalf("got %s, refreshes %d, logins %d; want a refresh at the cap", got, fa.refreshes.Load(), fa.logins.Load())
	}

	// A record written before the policy, with a long expiry.
	b2, fa2, clk2 := newBroker(t)
	fa2.ttl = 24 * time.Hour
	mustToken(t, b2)
	clk2.Advance(10 * time.Minute)
	b2.Forget()
	b2.MaxLifetime = 5 * time.Minute
	if got := mustToken(t, b2); got != "access-2" || fa2.refreshes.Load() != 1 {
		t.Fatalf("pre-policy record used past the cap: %s, refreshes %d", got, fa2.refreshes.Load())
	}
}

// TestMaxSessionForcesSignIn: after max_session the refresh token is not
// used; the next call signs in again, and refreshes in between keep the
// sign-in time.
func TestMaxSessionForcesSignIn(t *testing.T) {
	b, fa, clk := newBroker(t)
	b.MaxSession = 30 * time.Minute
	start := clk.Now()
	mustToken(t, b)
	clk.Advance(10 * time.Minute) // expired: refresh, same sign-in
	if got := mustToken(t, b); got != "access-2" || fa.refreshes.Load() != 1 || fa.logins.Load() != 1 {
		t.Fatalf("got %s, refreshes %d, logins %d", got, fa.refreshes.Load(), fa.logins.Load())
	}
	r, _ := b.Store.Get(context.Background(), acct)
	if !r.SignedIn.Equal(start) {
		t.Fatalf("refresh changed SignedIn to %v, want %v", r.SignedIn, start)
	}
	clk.Advance(21 * time.Minute) // 31 min after sign-in; the token itself is still valid
	if got := mustToken(t, b); got != "access-3" || fa.logins.Load() != 2 || fa.refreshes.Load() != 1 {
		t.Fatalf("got %s, logins %d, refreshes %d; want a new sign-in and no refresh", got, fa.logins.Load(), fa.refreshes.Load())
	}
	r, _ = b.Store.Get(context.Background(), acct)
	if !r.SignedIn.Equal(clk.Now()) {
		t.Fatalf("new sign-in time %v, want %v", r.SignedIn, clk.Now())
	}

	// A record without a sign-in time (stored by an older relay) counts
	// as too old.
	err := b.Store.Update(context.Background(), acct, func(r *vault.Record) (*vault.Record, error) {
		r.SignedIn = time.Time{}
		return r, nil
	})
	testkit.NoErr(t, err)
	b.Forget()
	if mustToken(t, b); fa.logins.Load() != 3 {
		t.Fatalf("record without sign-in time was used (logins %d)", fa.logins.Load())
	}
}

// A server that answers 401 to every token (and refuses refreshes) would
// get a browser tab per call. Once the token of a sign-in is refused at
// once, no sign-in starts for DeniedFor, or until Relogin (issue 21).
func TestRejectedFreshSignInOpensNoMoreTabs(t *testing.T) {
	b, fa, clk := newBroker(t)
	fa.refreshErr = oauth.ErrInvalidGrant
	ctx := context.Background()
	tok, err := b.Token(ctx, nil) // sign-in 1
	testkit.NoErr(t, err)
	// The server refuses it: the caller gets another (a refresh refused
	// with invalid_grant, so sign-in 2), which the server refuses too.
	tok, err = b.Unauthorized(ctx, tok, nil)
	if err != nil || fa.logins.Load() != 2 {
		t.Fatalf("after the first 401: %v, %d sign-ins", err, fa.logins.Load())
	}
	b.Rejected(tok)
	if _, err := b.Unauthorized(ctx, tok, nil); !errors.Is(err, ErrSignInRefused) || fa.logins.Load() != 2 {
		t.Fatalf("the next call: %v, %d sign-ins; want ErrSignInRefused and no sign-in", err, fa.logins.Load())
	}
	clk.Advance(DeniedFor + time.Second)
	if tok, err = b.Unauthorized(ctx, tok, nil); err != nil || fa.logins.Load() != 3 {
		t.Fatalf("after the back-off: %v, %d sign-ins", err, fa.logins.Load())
	}
	// A refused token that is not the last sign-in's starts no back-off.
	b.Rejected(secret.New("access-1"))
	if tok, err = b.Unauthorized(ctx, tok, nil); err != nil || fa.logins.Load() != 4 {
		t.Fatalf("an old token refused: %v, %d sign-ins", err, fa.logins.Load())
	}
	// Relogin (relay login --force) signs in whatever, and ends a back-off.
	b.Rejected(tok)
	if _, err := b.Relogin(ctx, nil); err != nil || fa.logins.Load() != 5 {
		t.Fatalf("relogin: %v, %d sign-ins", err, fa.logins.Load())
	}
	if _, err := b.Unauthorized(ctx, secret.New("access-5"), nil); err != nil || fa.logins.Load() != 6 {
		t.Fatalf("after relogin: %v, %d sign-ins", err, fa.logins.Load())
	}
}

// scopingAuth is fakeAuth with a server that suggests scopes (Scoper).
type scopingAuth struct {
	*fakeAuth
	supported []string // the protected resource metadata's scopes_supported
	offline   bool     // the authorization server lists offline_access
}

func (s *scopingAuth) DefaultScopes(context.Context) []string { return s.supported }
func (s *scopingAuth) Offline(context.Context) bool           { return s.offline }

// TestLoginScopes: the scopes of a sign-in follow the MCP authorization
// specification's scope selection strategy, with RELAY_SCOPES first: the
// 401's scope, else the resource's scopes_supported, else none at all;
// offline_access is added only when the authorization server lists it,
// something is asked for, and RELAY_SCOPES is not set.
func TestLoginScopes(t *testing.T) {
	for _, c := range []struct {
		name                  string
		relay                 []string // RELAY_SCOPES
		challenged, supported []string
		offline               bool
		want                  string
	}{
		{"the 401's scope", nil, []string{"mcp:basic"}, []string{"mcp:basic", "mcp:write"}, false, "mcp:basic"},
		{"else scopes_supported", nil, nil, []string{"mcp:basic", "mcp:read"}, false, "mcp:basic mcp:read"},
		{"else none", nil, nil, nil, false, ""},
		{"RELAY_SCOPES override", []string{"openid"}, []string{"mcp:basic"}, []string{"mcp:basic"}, true, "openid"},
		{"offline_access when listed", nil, []string{"mcp:basic"}, nil, true, "mcp:basic offline_access"},
		{"never offline_access alone", nil, nil, nil, true, ""},
		{"offline_access not repeated", nil, []string{"offline_access", "a"}, nil, true, "offline_access a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, fa, _ := newBroker(t)
			b.Scopes = c.relay
			b.Auth = &scopingAuth{fakeAuth: fa, supported: c.supported, offline: c.offline}
			_, err := b.Challenged(context.Background(), secret.Value{}, c.challenged, nil)
			testkit.NoErr(t, err, "Challenged")
			if got := strings.Join(fa.lastScopes, " "); got != c.want {
				t.Fatalf("the sign-in asked for %q, want %q", got, c.want)
			}
		})
	}
}

// TestStepUpScopes: a step-up asks for the scopes held and those the 403
// named, not the resource's scopes_supported.
func TestStepUpScopes(t *testing.T) {
	b, fa, _ := newBroker(t)
	b.Auth = &scopingAuth{fakeAuth: fa, supported: []string{"mcp:basic", "mcp:write", "mcp:admin"}}
	_, err := b.Challenged(context.Background(), secret.Value{}, []string{"mcp:basic"}, nil)
	testkit.NoErr(t, err, "first sign-in")
	held := secret.New("access-1")
	_, err = b.StepUp(context.Background(), held, []string{"mcp:basic", "mcp:write"}, nil)
	testkit.NoErr(t, err, "step-up")
	if got := strings.Join(fa.lastScopes, " "); got != "mcp:basic mcp:write" {
		t.Fatalf("the step-up asked for %q", got)
	}
}

// TestHolds: no token is held before a sign-in; after one it is, and still
// when the access token has expired but a refresh token is held.
func TestHolds(t *testing.T) {
	b, fa, clk := newBroker(t)
	if b.Holds(context.Background()) {
		t.Fatal("a token held before any sign-in")
	}
	mustToken(t, b)
	clk.Advance(2 * fa.ttl)
	b.Forget()
	if !b.Holds(context.Background()) || fa.refreshes.Load() != 0 {
		t.Fatal("an expired token with its refresh token is not held, or Holds refreshed")
	}
}

// BenchmarkTokenMemory measures Token with the token already held in
// memory, as on every tool call after the first: a version check of the
// vault (one stat) and no decryption, refresh or login.
func BenchmarkTokenMemory(b *testing.B) {
	clk := testkit.NewStepClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	fa := &fakeAuth{clk: clk, ttl: time.Hour}
	v, err := vault.Open(context.Background(), vault.Options{Dir: filepath.Join(b.TempDir(), "data"), Keychain: vault.NewMemKeychain(), Now: clk.Now})
	testkit.NoErr(b, err)
	br := &Broker{Account: acct, Store: v, Auth: fa, Now: clk.Now}
	ctx := context.Background()
	if _, err := br.Token(ctx, nil); err != nil { // the one login
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Token(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
	if n := fa.logins.Load() + fa.refreshes.Load(); n != 1 {
		b.Fatalf("%d logins and refreshes, want the first login only", n)
	}
}

// memStore is an in-memory Store.
type memStore struct {
	mu     sync.Mutex
	recs   map[vault.Account]vault.Record
	getErr error
	n      int
}

func (m *memStore) Get(_ context.Context, acct vault.Account) (vault.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.getErr != nil {
		return vault.Record{}, m.getErr
	}
	r, ok := m.recs[acct]
	if !ok {
		return vault.Record{}, fmt.Errorf("vault: account %s: %w", acct.Issuer, vault.ErrNotFound)
	}
	return r, nil
}

func (m *memStore) Update(ctx context.Context, acct vault.Account, fn func(*vault.Record) (*vault.Record, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var cur *vault.Record
	if r, ok := m.recs[acct]; ok {
		cur = &r
	}
	next, err := fn(cur)
	if err != nil {
		return err
	}
	if m.recs == nil {
		m.recs = map[vault.Account]vault.Record{}
	}
	m.recs[acct], m.n = *next, m.n+1
	return nil
}

func (m *memStore) Prepare(context.Context) error { return nil }
func (m *memStore) Version() string               { m.mu.Lock(); defer m.mu.Unlock(); return fmt.Sprint(m.n) }

var _ Store = (*memStore)(nil)

// revokingAuth is a fakeAuth that can revoke: it records what it was sent
// and answers err.
type revokingAuth struct {
	*fakeAuth
	err       error
	calls     int
	tok, hint string
	deadline  time.Duration
}

func (r *revokingAuth) Revoke(ctx context.Context, tok secret.Value, hint string) error {
	r.calls++
	r.tok, r.hint = tok.Reveal(), hint
	if d, ok := ctx.Deadline(); ok {
		r.deadline = time.Until(d)
	}
	return r.err
}

var _ Revoker = (*revokingAuth)(nil)

const (
	fakeRefresh = "fake-refresh-token-7f3c"
	fakeAccess  = "fake-access-token-9b21"
)

func TestRevoke(t *testing.T) {
	both := &vault.Record{AccessToken: secret.New(fakeAccess), RefreshToken: secret.New(fakeRefresh), Subject: "alice"}
	accessOnly := &vault.Record{AccessToken: secret.New(fakeAccess), Subject: "alice"}
	for _, tc := range []struct {
		name            string
		stored          *vault.Record
		getErr, resolve error
		plainAuth       bool  // an Auth without Revoke
		srvErr          error // what the server answers
		want            Revocation
		wantErr         string // "" for none
		wantSent        string // the token the server got; "" for no call
	}{
		{name: "nothing stored", want: Revocation{Outcome: NothingStored}},
		{name: "empty record", stored: &vault.Record{Subject: "alice"}, want: Revocation{Outcome: NothingStored}},
		{name: "refresh token revoked", stored: both,
			want: Revocation{Outcome: Revoked, Kind: "refresh_token", Issuer: acct.Issuer}, wantSent: fakeRefresh},
		{name: "only an access token", stored: accessOnly,
			want: Revocation{Outcome: Revoked, Kind: "access_token", Issuer: acct.Issuer}, wantSent: fakeAccess},
		{name: "no revocation endpoint", stored: both, srvErr: fmt.Errorf("login: %w", oauth.ErrNoRevocation),
			want: Revocation{Outcome: NoEndpoint, Kind: "refresh_token", Issuer: acct.Issuer}, wantSent: fakeRefresh},
		{name: "auth cannot revoke", stored: both, plainAuth: true,
			want: Revocation{Outcome: NoEndpoint, Kind: "refresh_token", Issuer: acct.Issuer}},
		{name: "server failure", stored: both, srvErr: &oauth.Error{Code: "invalid_client", Description: "unknown client"},
			want: Revocation{Outcome: Failed, Kind: "refresh_token", Issuer: acct.Issuer}, wantErr: "oauth: authorization server returned invalid_client: unknown client", wantSent: fakeRefresh},
		{name: "server failure echoing the token", stored: both, srvErr: errors.New("revocation of " + fakeRefresh + " answered HTTP 500"),
			want:    Revocation{Outcome: Failed, Kind: "refresh_token", Issuer: acct.Issuer},
			wantErr: "revocation of REDACTED answered HTTP 500", wantSent: fakeRefresh},
		{name: "vault unreadable", stored: both, getErr: errors.New("vault: locked"),
			want: Revocation{Outcome: NotAsked}, wantErr: "cannot read the vault: vault: locked"},
		{name: "account unknown", resolve: errors.New("issuer discovery failed"),
			want: Revocation{Outcome: NotAsked}, wantErr: "issuer discovery failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &memStore{getErr: tc.getErr}
			if tc.stored != nil {
				st.recs = map[vault.Account]vault.Record{acct: *tc.stored}
			}
			ra := &revokingAuth{fakeAuth: &fakeAuth{}, err: tc.srvErr}
			b := &Broker{Account: acct, Store: st, Auth: ra}
			if tc.plainAuth {
				b.Auth = ra.fakeAuth
			}
			if tc.resolve != nil {
				b.Resolve = func(context.Context) (vault.Account, error) { return vault.Account{}, tc.resolve }
			}
			got, err := b.Revoke(context.Background())
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if (err == nil) != (tc.wantErr == "") || err != nil && err.Error() != tc.wantErr {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
			if ra.tok != tc.wantSent || (tc.wantSent != "" && (ra.calls != 1 || ra.hint != tc.want.Kind)) {
				t.Errorf("the server got %q (hint %q) in %d calls, want %q", ra.tok, ra.hint, ra.calls, tc.wantSent)
			}
			if ra.calls == 1 && (ra.deadline <= 0 || ra.deadline > revokeTimeout) {
				t.Errorf("the revocation's deadline is %v away, want at most %v", ra.deadline, revokeTimeout)
			}
			assertNoToken(t, got, err)
			if rec, _ := st.Get(context.Background(), acct); tc.stored != nil && tc.getErr == nil && !rec.AccessToken.Equal(tc.stored.AccessToken) {
				t.Error("Revoke changed the stored tokens")
			}
		})
	}
}

// assertNoToken fails if any rendering of rev or err holds a token.
func assertNoToken(t *testing.T, rev Revocation, err error) {
	t.Helper()
	j, _ := json.Marshal(rev)
	texts := []string{fmt.Sprintf("%v %+v %#v", rev, rev, rev), string(j)}
	if err != nil {
		texts = append(texts, err.Error(), fmt.Sprintf("%+v %#v", err, err))
	}
	for _, s := range texts {
		for _, tok := range []string{fakeRefresh, fakeAccess} {
			if strings.Contains(s, tok) {
				t.Errorf("a token leaked: %s", s)
			}
		}
	}
}

// A cancelled context reaches the server's call, and its failure is Failed.
func TestRevokeHonoursContext(t *testing.T) {
	st := &memStore{recs: map[vault.Account]vault.Record{acct: {RefreshToken: secret.New(fakeRefresh)}}}
	ctxAuth := &ctxRevoker{fakeAuth: &fakeAuth{}}
	b := &Broker{Account: acct, Store: st, Auth: ctxAuth}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := b.Revoke(ctx)
	if got.Outcome != Failed || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %+v %v", got, err)
	}
}

type ctxRevoker struct{ *fakeAuth }

func (ctxRevoker) Revoke(ctx context.Context, _ secret.Value, _ string) error { return ctx.Err() }
