package broker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
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
	clk        *testkit.StepClock
	ttl        time.Duration
	logins     atomic.Int64
	refreshes  atomic.Int64
	refreshErr error
	loginErr   error
	lastScopes []string
	mu         sync.Mutex
	seq        int
	delay      time.Duration
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
	return f.issue(scopes), nil
}

func (f *fakeAuth) Refresh(_ context.Context, rt secret.Value) (*oauth.Tokens, error) {
	f.refreshes.Add(1)
	time.Sleep(f.delay)
	if f.refreshErr != nil {
		return nil, f.refreshErr
	}
	return f.issue([]string{"notes:read"}), nil
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
	if _, err := other.Wipe(context.Background()); err != nil {
		t.Fatal(err)
	}
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
