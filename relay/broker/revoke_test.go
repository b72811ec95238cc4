package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/vault"
)

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
