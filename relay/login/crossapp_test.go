package login

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/vault"
)

// idTok is an unsigned ID token with iss, aud relay, sub alice and exp:
// the relay reads its claims and never verifies it (the provider does).
func idTok(iss string, exp time.Time) string {
	b, _ := json.Marshal(map[string]any{"iss": iss, "aud": "relay", "sub": "alice", "exp": exp.Unix(), "nonce": exp.UnixNano()})
	e := base64.RawURLEncoding.EncodeToString
	return e([]byte(`{"alg":"ES256"}`)) + "." + e(b) + ".c2ln"
}

// fakeIdP answers OpenID discovery, a sign-in (its authorization
// endpoint redirects straight back with a code) and the refresh grant,
// each with a new ID token.
type fakeIdP struct {
	srv       *httptest.Server
	refreshes atomic.Int64
	codes     atomic.Int64 // authorization codes exchanged (sign-ins)
	others    atomic.Int64 // any other request to the token endpoint
}

func newFakeIdP(t *testing.T) *fakeIdP {
	f := &fakeIdP{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		iss := f.srv.URL
		switch {
		case r.URL.Path == "/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(map[string]any{"issuer": iss, "authorization_endpoint": iss + "/auth",
				"token_endpoint": iss + "/token", "code_challenge_methods_supported": []string{"S256"}})
		case r.URL.Path == "/token" && r.FormValue("grant_type") == "refresh_token" && r.FormValue("refresh_token") == "fake-idp-refresh-1":
			f.refreshes.Add(1)
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "fake-idp-access-2", "token_type": "Bearer",
				"refresh_token": "fake-idp-refresh-2", "id_token": idTok(iss, time.Now().Add(time.Hour)), "expires_in": 3600})
		case r.URL.Path == "/auth": // the person signs in at once
			q := url.Values{"code": {"fake-idp-code"}, "state": {r.FormValue("state")}}
			http.Redirect(w, r, r.FormValue("redirect_uri")+"?"+q.Encode(), http.StatusFound)
		case r.URL.Path == "/token" && r.FormValue("grant_type") == "authorization_code" && r.FormValue("code") == "fake-idp-code":
			f.codes.Add(1)
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "fake-idp-access-1", "token_type": "Bearer",
				"refresh_token": "fake-idp-refresh-1", "id_token": idTok(iss, time.Now().Add(time.Hour)), "expires_in": 3600})
		case r.URL.Path == "/token":
			f.others.Add(1)
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIdP) interactive(t *testing.T, reg Registry) *Interactive {
	return &Interactive{CrossApp: &CrossApp{Issuer: f.srv.URL, ClientID: "relay"}, Registry: reg,
		Client: oauth.Client{HTTP: f.srv.Client()}, Timeout: time.Second}
}

func memVault(t *testing.T) *vault.Vault { return vaultAt(t, t.TempDir(), vault.NewMemKeychain()) }

// vaultAt opens a vault handle on dir with the in-memory keychain kc.
func vaultAt(t *testing.T, dir string, kc *vault.MemKeychain) *vault.Vault {
	t.Helper()
	v, err := vault.Open(context.Background(), vault.Options{Dir: dir, Keychain: kc})
	testkit.NoErr(t, err)
	return v
}

// TestIdPSessionRefreshedWhenIDTokenExpires: an expired ID token in the
// session is replaced by a refresh at the identity provider, stored with
// the rotated refresh token; no sign-in.
func TestIdPSessionRefreshedWhenIDTokenExpires(t *testing.T) {
	f := newFakeIdP(t)
	v := memVault(t)
	acct := IdPAccount(f.srv.URL, "relay")
	old := idTok(f.srv.URL, time.Now().Add(-time.Minute))
	testkit.NoErr(t, v.Update(context.Background(), acct, func(*vault.Record) (*vault.Record, error) {
		return &vault.Record{IDToken: secret.New(old), RefreshToken: secret.New("fake-idp-refresh-1")}, nil
	}))
	i := f.interactive(t, v)
	testkit.WantIs(t, testkit.ErrOf(i.idToken(nil)), broker.ErrReprepare, "no ID token prepared yet")
	testkit.NoErr(t, i.prepareIdP(context.Background()))
	tok, err := i.idToken(nil)
	if err != nil || tok.Reveal() == old || f.refreshes.Load() != 1 || f.others.Load() != 0 {
		t.Fatalf("after prepare: %v, new token %v, %d refreshes, %d other token requests", err, tok.Reveal() != old, f.refreshes.Load(), f.others.Load())
	}
	r, err := v.Get(context.Background(), acct)
	if err != nil || !r.IDToken.Equal(tok) || r.RefreshToken.Reveal() != "fake-idp-refresh-2" || r.Subject != "alice" {
		t.Fatalf("stored session: %v, rotated refresh token %v", err, r.RefreshToken.Reveal() == "fake-idp-refresh-2")
	}
	// A valid session is used as it is: no request at all.
	j := f.interactive(t, v)
	_, _ = j.idToken(nil)
	testkit.NoErr(t, j.prepareIdP(context.Background()))
	if got, err := j.idToken(nil); err != nil || !got.Equal(tok) || f.refreshes.Load() != 1 {
		t.Fatalf("a valid session: %v, same token %v, %d refreshes", err, got.Equal(tok), f.refreshes.Load())
	}
	// An ID token the provider refused is not used again.
	j.rejectIDToken(tok, nil)
	testkit.WantIs(t, testkit.ErrOf(j.idToken(nil)), broker.ErrReprepare, "a refused ID token")
}

// TestIDTokenFile: the file is read at each use, with the secret-file
// reader; an expired token, another issuer's or one that is not a JWT is
// refused with the file's name and without the token.
func TestIDTokenFile(t *testing.T) {
	const iss = "https://idp.test"
	content := ""
	var reads int
	x := &CrossApp{Issuer: iss, ClientID: "relay", IDTokenFile: "/run/id_token", ReadFile: func(path string, limit int64) ([]byte, error) {
		reads++
		if content == "" {
			return nil, errors.New("refused: readable by others")
		}
		return []byte(content + "\n"), nil
	}}
	i := &Interactive{CrossApp: x}
	good := idTok(iss, time.Now().Add(time.Hour))
	content = good
	if tok, err := i.idToken(nil); err != nil || tok.Reveal() != good {
		t.Fatalf("good: %v", err)
	}
	rotated := idTok(iss, time.Now().Add(2*time.Hour))
	content = rotated
	if tok, _ := i.idToken(nil); tok.Reveal() != rotated || reads != 2 {
		t.Fatalf("the rotated file was not read again (%d reads)", reads)
	}
	for name, tc := range map[string]struct{ content, want string }{
		"expired":      {idTok(iss, time.Now().Add(-time.Minute)), "RELAY_IDP_ID_TOKEN_FILE /run/id_token: the ID token expired at"},
		"other issuer": {idTok("https://evil.test", time.Now().Add(time.Hour)), `issued by "https://evil.test", not by RELAY_IDP_ISSUER`},
		"not a JWT":    {"hello-not-a-token", "not a JWT"},
		"refused file": {"", "RELAY_IDP_ID_TOKEN_FILE: refused"},
	} {
		content = tc.content
		_, err := i.idToken(nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.content != "" && strings.Contains(err.Error(), tc.content)) {
			t.Errorf("%s: %v, want %q and no token", name, err, tc.want)
		}
	}
}

// TestRevokeIdPReportsWhatIsLeft: logout's revocation at the identity
// provider says when a token it honours is left there (no revocation
// endpoint), and that nothing is when no session is stored.
func TestRevokeIdPReportsWhatIsLeft(t *testing.T) {
	f := newFakeIdP(t)
	v := memVault(t)
	i := f.interactive(t, v)
	if line, left := i.RevokeIdP(context.Background()); left || line != "identity provider: no stored session" {
		t.Fatalf("no session: %q, left %v", line, left)
	}
	testkit.NoErr(t, v.Update(context.Background(), IdPAccount(f.srv.URL, "relay"), func(*vault.Record) (*vault.Record, error) {
		return &vault.Record{IDToken: secret.New(idTok(f.srv.URL, time.Now().Add(time.Hour))), RefreshToken: secret.New("fake-idp-refresh-1")}, nil
	}))
	line, left := i.RevokeIdP(context.Background())
	if !left || !strings.Contains(line, "no revocation endpoint") || strings.Contains(line, "fake-idp-refresh") {
		t.Fatalf("no endpoint: %q, left %v", line, left)
	}
	if line, left := (&Interactive{}).RevokeIdP(context.Background()); line != "" || left {
		t.Fatalf("without cross-app access: %q, left %v", line, left)
	}
}

// TestIdPSignInWithoutBrowserIsPending: in the stdio server with no
// browser, the sign-in at the identity provider returns its URL at once
// (the call does not wait for the login timeout) and finishes in the
// background once the person opens it; calls meanwhile get the same URL,
// and the session then lands in the vault with no second sign-in.
func TestIdPSignInWithoutBrowserIsPending(t *testing.T) {
	f := newFakeIdP(t)
	v := memVault(t)
	i := f.interactive(t, v)
	i.Timeout = time.Minute
	i.Open = func(context.Context, string) error { return errors.New("no display") }
	i.Deliver = func(*oauth.Tokens) { t.Error("the identity provider's tokens went to Deliver") }
	testkit.WantIs(t, testkit.ErrOf(i.idToken(nil)), broker.ErrReprepare, "no ID token yet")
	returned := make(chan error, 1)
	go func() { returned <- i.prepareIdP(context.Background()) }()
	var err error
	select {
	case err = <-returned:
	case <-time.After(20 * time.Second):
		t.Fatal("the sign-in waited instead of returning its URL")
	}
	var le *Error
	if !errors.As(err, &le) || !le.Pending || !strings.HasPrefix(le.URL, f.srv.URL+"/auth?") || !strings.Contains(err.Error(), le.URL) {
		t.Fatalf("err %v, want a pending sign-in with the identity provider's URL", err)
	}
	if again := i.prepareIdP(context.Background()); !errors.As(again, &le) || le.URL != err.(*Error).URL {
		t.Fatalf("a second call: %v, want the same URL", again)
	}
	resp, err2 := f.srv.Client().Get(le.URL) // the person opens it by hand
	testkit.NoErr(t, err2)
	resp.Body.Close()
	testkit.Poll(t, 10*time.Second, "the background sign-in to finish", func() bool { return i.current() == nil })
	tok, err := i.idToken(nil)
	testkit.NoErr(t, err, "the ID token after the sign-in")
	r, err := v.Get(context.Background(), IdPAccount(f.srv.URL, "relay"))
	if err != nil || !r.IDToken.Equal(tok) || r.RefreshToken.Reveal() != "fake-idp-refresh-1" || f.codes.Load() != 1 {
		t.Fatalf("stored session: %v, %d sign-ins", err, f.codes.Load())
	}
	testkit.NoErr(t, i.prepareIdP(context.Background()))
	if f.codes.Load() != 1 {
		t.Fatalf("%d sign-ins, want 1", f.codes.Load())
	}
}
