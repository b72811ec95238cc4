package status

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/platform"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/vault"
)

const (
	fakeAccess  = "fake-access-token-51de"
	fakeRefresh = "fake-refresh-token-a0c4"
)

var (
	expiry = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	stored = vault.Record{AccessToken: secret.New(fakeAccess), RefreshToken: secret.New(fakeRefresh), TokenType: "Bearer",
		Scopes: []string{"notes:read", "notes:write"}, Subject: "alice", Expiry: expiry}
	fileVault = vault.Status{Dir: "/home/alice/.config/keyrelay", HasTokens: true, KeySource: "file", Protects: "copies of the data directory"}
)

// inCET makes the local time zone fixed for the test: times print in it.
func inCET(t *testing.T) {
	prev := time.Local
	time.Local = time.FixedZone("CET", 3600)
	t.Cleanup(func() { time.Local = prev })
}

type fakeVault vault.Status

func (f fakeVault) Status(context.Context) vault.Status { return vault.Status(f) }

// fakeTokens answers Cached with rec and err, and logs the calls in log.
type fakeTokens struct {
	rec vault.Record
	err error
	log *[]string
}

func (f fakeTokens) Cached(context.Context) (vault.Record, error) {
	*f.log = append(*f.log, "cached")
	return f.rec, f.err
}

func TestBuild(t *testing.T) {
	// loggedOut keeps what a report says without tokens.
	loggedOut := func(r *Report) Report {
		return Report{State: LoggedOut, KeySource: r.KeySource, Protects: r.Protects, DataDir: r.DataDir, AuthServer: r.AuthServer, Backend: r.Backend, Policy: r.Policy}
	}
	loggedIn := Report{LoggedIn: true, State: LoggedIn, Subject: "alice", Scopes: []string{"notes:read", "notes:write"}, Expiry: expiry, KeySource: "file",
		Protects: "copies of the data directory", DataDir: "/home/alice/.config/keyrelay", AuthServer: "https://as.example", Backend: "https://api.example",
		Policy: []string{"from /etc/keyrelay/policy.json:", "  device grant: off"}}
	passVault := vault.Status{Dir: "/d", Exists: true, HasTokens: true, KeySource: "passphrase", Recorded: true, Protects: "p", Locked: true}
	for _, tc := range []struct {
		name       string
		vault      vault.Status
		configErr  error
		authServer string // configured; "" is "https://as.example"
		rec        vault.Record
		err        error
		now        time.Time
		want       func(r *Report) // edits loggedIn into the wanted report
		wantCalls  string
	}{
		{name: "logged in", vault: fileVault, rec: stored, now: expiry.Add(-time.Minute),
			want: func(*Report) {}, wantCalls: "cached"},
		{name: "expired", vault: fileVault, rec: stored, now: expiry.Add(time.Second),
			want: func(r *Report) { r.Expired = true }, wantCalls: "cached"},
		{name: "no expiry never expires", vault: fileVault, rec: vault.Record{Subject: "alice"}, now: expiry,
			want:      func(r *Report) { r.Scopes, r.Expiry = nil, time.Time{} },
			wantCalls: "cached"},
		{name: "auth server found through the backend (6d)", vault: fileVault, authServer: "-", rec: stored, now: expiry.Add(-time.Minute),
			want: func(r *Report) { r.AuthServer, r.AuthServerFound = "https://found.example", true }, wantCalls: "cached issuer"},
		{name: "no tokens stored", vault: vault.Status{Dir: "/d", KeySource: "keychain", Protects: "p"},
			want: func(r *Report) { *r = loggedOut(r); r.KeySource, r.Protects, r.DataDir = "keychain", "p", "/d" }},
		{name: "a key file the first login creates", vault: vault.Status{Dir: "/d", KeySource: "file", Protects: "p", KeyNote: "the key file /k does not exist yet"},
			want: func(r *Report) {
				*r = loggedOut(r)
				r.KeySource, r.Protects, r.DataDir, r.KeyNote = "file", "p", "/d", "the key file /k does not exist yet"
			}},
		{name: "config refused: tokens not read", vault: fileVault, rec: stored, configErr: errors.New("refused by policy: nope"),
			want: func(r *Report) { *r = loggedOut(r); r.ConfigProblem = "refused by policy: nope" }},
		{name: "login required", vault: fileVault, err: fmt.Errorf("x: %w", broker.ErrLoginRequired),
			want: func(r *Report) { *r = loggedOut(r) }, wantCalls: "cached"},
		{name: "unreadable tokens", vault: fileVault, err: errors.New("vault: key source: locked"),
			want: func(r *Report) { *r = loggedOut(r); r.State, r.Problem = Unreadable, "vault: key source: locked" }, wantCalls: "cached"},
		{name: "passphrase vault: locked, tokens not read (6b)", vault: passVault, rec: stored,
			want: func(r *Report) {
				*r = loggedOut(r)
				r.State, r.KeySource, r.Protects, r.DataDir = Locked, "passphrase", "p", "/d"
			}},
		{name: "key source fails: tokens not read", vault: vault.Status{Dir: "/d", Exists: true, HasTokens: true, KeySource: "file", Problem: "key file gone"}, rec: stored,
			want: func(r *Report) {
				*r = loggedOut(r)
				r.State, r.KeySource, r.Protects, r.DataDir, r.Problem = Unreadable, "file", "", "/d", "key file gone"
			}},
		{name: "key source fails, no tokens: logged out", vault: vault.Status{Dir: "/d", KeySource: "file", Problem: "bad dir"},
			want: func(r *Report) {
				*r = loggedOut(r)
				r.KeySource, r.Protects, r.DataDir, r.Problem = "file", "", "/d", "bad dir"
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls []string
			as := "https://as.example"
			if tc.authServer == "-" {
				as = ""
			}
			got := Build(context.Background(), Sources{AuthServer: as, Backend: "https://api.example", Policy: loggedIn.Policy,
				ConfigErr: tc.configErr, Vault: fakeVault(tc.vault), Tokens: fakeTokens{tc.rec, tc.err, &calls},
				Issuer: func(context.Context) string { calls = append(calls, "issuer"); return "https://found.example" },
				Waiting: func() func() {
					calls = append(calls, "waiting")
					return func() { calls = append(calls, "stop") }
				},
				Now: func() time.Time { return tc.now }})
			want := loggedIn
			want.Scopes = append([]string(nil), loggedIn.Scopes...)
			tc.want(&want)
			if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
				t.Errorf("got  %#v\nwant %#v", got, want)
			}
			if c := strings.Join(calls, " "); c != tc.wantCalls {
				t.Errorf("calls %q, want %q", c, tc.wantCalls)
			}
		})
	}
}

// TestBuildWaitsAloudOnlyForAHeldVault (6c): reading the tokens says it
// waits only while another process holds the vault's lock, not when the
// read is merely slow; with a real vault and broker.
func TestBuildWaitsAloudOnlyForAHeldVault(t *testing.T) {
	key, _ := age.GenerateX25519Identity()
	keyFile := testkit.WriteTemp(t, "vault-key.txt", key.String()+"\n", 0o600)
	dir := filepath.Join(t.TempDir(), "data")
	ctx := context.Background()
	v, err := vault.Open(ctx, vault.Options{Dir: dir, KeySpec: "file:" + keyFile})
	testkit.NoErr(t, err)
	acct := vault.Account{Issuer: "https://as.example", Resource: "https://api.example"}
	testkit.NoErr(t, v.Update(ctx, acct, func(*vault.Record) (*vault.Record, error) { r := stored; return &r, nil }))
	var waits, stops atomic.Int32
	src := Sources{AuthServer: "https://as.example", Vault: v, Tokens: &broker.Broker{Account: acct, Store: v},
		Waiting: func() func() { waits.Add(1); return func() { stops.Add(1) } }}

	if r := Build(ctx, src); !r.LoggedIn || waits.Load() != 0 {
		t.Fatalf("free vault: logged in %v, %d waits", r.LoggedIn, waits.Load())
	}
	held, err := platform.Lock(ctx, filepath.Join(dir, "vault.lock"))
	testkit.NoErr(t, err)
	t.Cleanup(func() { held.Unlock() }) // on failure; a second Unlock only errs
	done := make(chan Report, 1)
	go func() { done <- Build(ctx, src) }()
	testkit.Poll(t, 10*time.Second, "the wait to be announced", func() bool { return waits.Load() == 1 })
	testkit.NoErr(t, held.Unlock())
	if r := <-done; !r.LoggedIn || stops.Load() != 1 {
		t.Fatalf("held vault: logged in %v, %d stops", r.LoggedIn, stops.Load())
	}
}

// printCase is a report and how it prints.
type printCase struct {
	name string
	r    Report
	want string
}

// checkPrint prints each case's report, as JSON or as text.
func checkPrint(t *testing.T, asJSON bool, cases []printCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.r.Print(&b, asJSON); err != nil || b.String() != tc.want {
				t.Fatalf("got %v\n%s\nwant\n%s", err, b.String(), tc.want)
			}
		})
	}
}

func TestPrintText(t *testing.T) {
	inCET(t)
	checkPrint(t, false, []printCase{
		{"logged out, nothing known", Report{State: LoggedOut, DataDir: "/d"}, `status:      logged out
key source:  (unknown)
protects:    (unknown)
data dir:    /d
auth server: (found through the backend at sign-in)
backend:     (unknown)
`},
		{"locked", Report{State: Locked, KeySource: "passphrase", Protects: "p", DataDir: "/d", AuthServer: "https://as.example", Backend: "b"},
			`status:      locked: needs the passphrase
key source:  passphrase
protects:    p
data dir:    /d
auth server: https://as.example
backend:     b
`},
		{"unreadable", Report{State: Unreadable, KeySource: "keychain", Protects: "p", DataDir: "/d", AuthServer: "https://as.example", Backend: "b",
			Problem: "vault: keychain get: locked"}, `status:      unknown: the stored tokens cannot be read (see the problem)
key source:  keychain
protects:    p
data dir:    /d
auth server: https://as.example
backend:     b
problem:     vault: keychain get: locked
`},
		{"a key file to create", Report{State: LoggedOut, KeySource: "file", Protects: "p", DataDir: "/d", Backend: "b",
			KeyNote: "the key file /k does not exist yet; the first login creates it"}, `status:      logged out
key source:  file
protects:    p
data dir:    /d
auth server: (found through the backend at sign-in)
backend:     b
note:        the key file /k does not exist yet; the first login creates it
`},
		{"logged in, auth server found", Report{LoggedIn: true, State: LoggedIn, Subject: "alice", Scopes: []string{"a"}, Expiry: expiry, KeySource: "file",
			Protects: "p", DataDir: "/d", AuthServer: "https://as.example", AuthServerFound: true, Backend: "b"}, `status:      logged in as alice
scopes:      a
expires:     Wed, 25 Nov 2026 13:00:00 CET
key source:  file
protects:    p
data dir:    /d
auth server: https://as.example (found through the backend)
backend:     b
`},
		{"logged in, policy, problems", Report{LoggedIn: true, Subject: "alice", Scopes: []string{"a", "b"}, Expiry: expiry,
			KeySource: "keychain", Protects: "p", DataDir: "/d", AuthServer: "https://as.example", Backend: "https://api.example",
			Problem: "vault problem", ConfigProblem: "config problem", Policy: []string{"from /etc/keyrelay/policy.json:", "  device grant: off"}},
			`status:      logged in as alice
scopes:      a b
expires:     Wed, 25 Nov 2026 13:00:00 CET
key source:  keychain
protects:    p
data dir:    /d
auth server: https://as.example
backend:     https://api.example
policy:
  from /etc/keyrelay/policy.json:
    device grant: off
problem:     config problem
problem:     vault problem
`},
		{"expired, unknown subject, no scopes", Report{LoggedIn: true, Expiry: expiry, Expired: true, KeySource: "file", Protects: "p", DataDir: "/d", Backend: "b"},
			`status:      logged in as (unknown)
scopes:      (none)
expires:     Wed, 25 Nov 2026 13:00:00 CET (expired; the next call refreshes it)
key source:  file
protects:    p
data dir:    /d
auth server: (unknown)
backend:     b
`},
		{"logged in, no expiry", Report{LoggedIn: true, Subject: "bob", Scopes: []string{"x"}, DataDir: "/d"},
			`status:      logged in as bob
scopes:      x
expires:     (unknown)
key source:  (unknown)
protects:    (unknown)
data dir:    /d
auth server: (unknown)
backend:     (unknown)
`},
	})
}

func TestPrintJSON(t *testing.T) {
	checkPrint(t, true, []printCase{
		{"logged out", Report{State: LoggedOut, KeySource: "keychain", DataDir: "/d", Backend: "https://api.example"}, `{
  "logged_in": false,
  "state": "logged_out",
  "key_source": "keychain",
  "data_dir": "/d",
  "auth_server": "",
  "backend": "https://api.example"
}
`},
		{"everything", Report{LoggedIn: true, State: LoggedIn, Subject: "alice", Scopes: []string{"a", "b"}, Expiry: expiry, Expired: true,
			KeySource: "file", Protects: "p", KeyNote: "kn", DataDir: "/d", AuthServer: "https://as.example", AuthServerFound: true, Backend: "https://api.example",
			Problem: "vp", ConfigProblem: "cp", Policy: []string{"l1", "  l2"}}, `{
  "logged_in": true,
  "state": "logged_in",
  "subject": "alice",
  "scopes": [
    "a",
    "b"
  ],
  "expiry": "2026-11-25T12:00:00Z",
  "expired": true,
  "key_source": "file",
  "protects": "p",
  "key_note": "kn",
  "data_dir": "/d",
  "auth_server": "https://as.example",
  "auth_server_found": true,
  "backend": "https://api.example",
  "problem": "vp",
  "config_problem": "cp",
  "policy": [
    "l1",
    "  l2"
  ]
}
`},
	})
}

// Neither form of a report built from stored tokens holds a token, nor does
// the line `relay login` prints.
func TestNoTokenInOutput(t *testing.T) {
	var calls []string
	r := Build(context.Background(), Sources{Vault: fakeVault(fileVault), Tokens: fakeTokens{rec: stored, log: &calls}})
	if !r.LoggedIn {
		t.Fatal("not logged in: the test proves nothing")
	}
	text, js := printed(t, r)
	for _, out := range []string{text, js, SignedIn(stored), fmt.Sprintf("%#v", r)} {
		for _, tok := range []string{fakeAccess, fakeRefresh, "REDACTED"} {
			if strings.Contains(out, tok) {
				t.Errorf("output holds %q:\n%s", tok, out)
			}
		}
	}
}

// printed is r's text and JSON forms.
func printed(t *testing.T, r Report) (text, js string) {
	t.Helper()
	var tb, jb bytes.Buffer
	testkit.NoErr(t, r.Print(&tb, false))
	testkit.NoErr(t, r.Print(&jb, true))
	return tb.String(), jb.String()
}

func TestSignedIn(t *testing.T) {
	inCET(t)
	for _, tc := range []struct {
		rec  vault.Record
		want string
	}{
		{stored, "signed in as alice (scopes: notes:read notes:write; expires Wed, 25 Nov 2026 13:00:00 CET)"},
		{vault.Record{}, "signed in as (unknown) (scopes: (none); expires (unknown))"},
	} {
		if got := SignedIn(tc.rec); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

// TestPKCEAssumed: the issuers for which PKCE S256 is assumed, and who
// named them, are in both forms of the report, whatever else it says.
func TestPKCEAssumed(t *testing.T) {
	as := []Assumption{{Issuer: "https://login.example/t/v2.0", By: "RELAY_ASSUME_PKCE_S256"},
		{Issuer: "https://login.example/u/v2.0", By: "assume_pkce_s256 of /etc/keyrelay/policy.json"}}
	r := Build(context.Background(), Sources{PKCE: as, ConfigErr: errors.New("bad"), Vault: fakeVault(vault.Status{Dir: "/d"})})
	text, js := printed(t, r)
	testkit.Contains(t, "the text report", text,
		"\npkce:        S256 assumed for https://login.example/t/v2.0 (RELAY_ASSUME_PKCE_S256)\n",
		"\npkce:        S256 assumed for https://login.example/u/v2.0 (assume_pkce_s256 of /etc/keyrelay/policy.json)\n")
	if !strings.Contains(js, `"pkce_s256_assumed": [
    {
      "issuer": "https://login.example/t/v2.0",
      "by": "RELAY_ASSUME_PKCE_S256"
    },`) {
		t.Errorf("JSON lacks pkce_s256_assumed:\n%s", js)
	}
	if text, js := printed(t, Report{}); strings.Contains(text+js, "pkce") {
		t.Errorf("a report without assumptions mentions pkce:\n%s%s", text, js)
	}
}

// TestClientCredentialsShown: in the client_credentials mode both forms of
// the report name the client that signs in; otherwise neither mentions it.
func TestClientCredentialsShown(t *testing.T) {
	r := Build(context.Background(), Sources{ClientCredentials: "ci-key", Vault: fakeVault(vault.Status{Dir: "/d"})})
	text, js := printed(t, r)
	testkit.Contains(t, "the text report", text, "\nsign-in:     client credentials of ci-key (no person signs in; RELAY_CLIENT_CREDENTIALS)\n")
	testkit.Contains(t, "the JSON report", js, `"client_credentials": "ci-key"`)
	if text, js := printed(t, Report{}); strings.Contains(text+js, "client") {
		t.Errorf("a report for a person's sign-in mentions client credentials:\n%s%s", text, js)
	}
}

// TestIdPSessionShown: with cross-app access both forms name the
// identity provider and its session; a locked vault is not read for it;
// without it, neither mentions one.
func TestIdPSessionShown(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	read := 0
	idp := func(context.Context) *IdP {
		read++
		return &IdP{Issuer: "https://idp.test", ClientID: "relay", Source: "sign-in", SignedIn: true, Subject: "alice", Expiry: exp}
	}
	r := Build(context.Background(), Sources{IdP: idp, Vault: fakeVault(vault.Status{Dir: "/d"}), Now: func() time.Time { return exp.Add(time.Hour) }})
	text, js := printed(t, r)
	if !strings.Contains(text, "\nsign-in:     cross-app access through https://idp.test\nidp:         signed in as alice, ID token until ") ||
		!strings.Contains(text, "(expired); from sign-in, client relay\n") {
		t.Errorf("text:\n%s", text)
	}
	if !strings.Contains(js, `"idp": {`) || !strings.Contains(js, `"subject": "alice"`) || !strings.Contains(js, `"expired": true`) {
		t.Errorf("JSON:\n%s", js)
	}
	Build(context.Background(), Sources{IdP: idp, Vault: fakeVault(vault.Status{Dir: "/d", HasTokens: true, Locked: true})})
	if read != 1 {
		t.Errorf("the session was read %d times; a locked vault must not be read", read)
	}
	if text, _ := printed(t, Report{}); strings.Contains(text, "idp") || strings.Contains(text, "cross-app") {
		t.Errorf("a report without cross-app access mentions it:\n%s", text)
	}
}
