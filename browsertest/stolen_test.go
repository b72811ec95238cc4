package browsertest

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/keyrelay/keyrelay/internal/dpop"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/vault"
)

// signInRelay signs the relay in through Chromium: a whoami call that
// needs a login, the authorization URL it opens (checkAuthorizeURL),
// alice's sign-in and the consent page (checkConsentPage), allow, the
// relay's callback page. With shots set it saves relay-login.png,
// relay-consent.png and relay-success.png there. It returns the
// authorization request's query, the callback page, and the whoami
// answer, checked.
func signInRelay(ctx context.Context, t *testing.T, be *backend, r *relayProc, shots string) (url.Values, pageState, toolCall) {
	t.Helper()
	md := be.metadata(ctx, t)
	bctx := newBrowser(ctx, t)
	// The first call needs a login: it stays in flight until the browser
	// part below is done.
	first := make(chan toolCall, 1)
	go func() { first <- r.callTool(ctx, "whoami") }()
	authURL := r.waitAuthorizeURL(ctx, t, first)
	aq := checkAuthorizeURL(t, authURL, md, be)
	signIn(bctx, t, authURL, be, shots, "relay-")
	checkConsentPage(t, bctx, aq.Get("client_id"))
	testkit.NoErr(t, chromedp.Do(bctx, chromedp.Click(chromedp.ID("allow"))), "click allow")
	st := waitRelayPage(ctx, t, bctx, aq.Get("redirect_uri"))
	if shots != "" {
		screenshot(bctx, t, shots, "relay-success.png")
	}
	var tc toolCall
	select {
	case tc = <-first:
	case <-ctx.Done():
		t.Fatalf("whoami did not return after the sign-in: %v\n%s", ctx.Err(), r.Stderr.String())
	}
	checkWhoami(t, "whoami after the sign-in", tc, be, aq.Get("client_id"), r.Stderr)
	return aq, st, tc
}

// loot is what malware reads out of the vault with the vault's key.
type loot struct {
	access, refresh string
	key             *dpop.Key
	clientID        string
	rec             vault.Record
}

func readVault(ctx context.Context, t *testing.T, r *relayProc, be *backend) loot {
	t.Helper()
	v, err := vault.Open(ctx, vault.Options{Dir: r.env.Dir, KeySpec: "file:" + r.env.KeyFile})
	testkit.NoErr(t, err, "open the relay's vault")
	// A client the relay registered itself is kept under an empty ClientID.
	rec, err := v.Get(ctx, vault.Account{Issuer: be.URL, Resource: be.URL})
	testkit.NoErr(t, err, "the relay's vault has no record for the backend")
	if rec.TokenType != "DPoP" || rec.DPoPKey.IsZero() {
		t.Fatalf("the stored tokens are %q, with a key: %v; want DPoP-bound ones (the built-in server offers DPoP)", rec.TokenType, !rec.DPoPKey.IsZero())
	}
	der, err := base64.StdEncoding.DecodeString(rec.DPoPKey.Reveal())
	testkit.NoErr(t, err)
	k, err := dpop.ParseKey(rec.DPoPAlg, der)
	testkit.NoErr(t, err, "the stored DPoP key")
	l := loot{access: rec.AccessToken.Reveal(), refresh: rec.RefreshToken.Reveal(), key: k, rec: rec}
	if l.access != "" {
		l.clientID, _ = testkit.PeekJWT(t, l.access, 1)["client_id"].(string)
	}
	if l.access == "" || l.refresh == "" || l.clientID == "" {
		t.Fatalf("the vault lacks an access token (%v), a refresh token (%v) or the client id (%v)", l.access != "", l.refresh != "", l.clientID != "")
	}
	return l
}

func mustProof(t *testing.T, k *dpop.Key, method, u, token string) string {
	t.Helper()
	p, err := k.Proof(method, u, dpop.ProofOptions{AccessToken: token})
	testkit.NoErr(t, err)
	return p
}

func newKey(t *testing.T) *dpop.Key {
	t.Helper()
	k, err := dpop.NewKey(dpop.ES256)
	testkit.NoErr(t, err)
	return k
}

// refresh posts the refresh token to the token endpoint, with proof if set.
func refresh(t *testing.T, be *backend, l loot, proof string) (int, string) {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {l.refresh}, "client_id": {l.clientID}, "resource": {be.URL}}
	req, _ := http.NewRequest(http.MethodPost, be.URL+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := http.DefaultClient.Do(req)
	testkit.NoErr(t, err)
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error
}

// TestRealBrowserStolenTokens is the stolen-token suite of issue 20: the
// relay signs in through Chromium against the backend's built-in server
// (DPoP on by default), and malware that reads the vault with its key
// takes the access and refresh tokens. Without the DPoP key each use is
// refused: the access token as a bearer token, with another key's proof, a
// replayed proof, a proof for another method or URL, a proof whose ath is
// another token's, and the refresh token with no proof or another key's.
// The relay keeps working throughout, without a new sign-in. (Malware
// that also uses the vault's DPoP key can make proofs of its own while it
// runs: the test shows that too, as the limit SECURITY.md states.)
func TestRealBrowserStolenTokens(t *testing.T) {
	chromiumPath(t)
	testkit.Backend(t)
	testkit.Relay(t)
	ctx, cancel := context.WithTimeout(context.Background(), relayTestTimeout)
	t.Cleanup(cancel)
	be := startBackend(t)
	r := startRelay(t, be)
	signInRelay(ctx, t, be, r, "")
	l := readVault(ctx, t, r, be)
	other := newKey(t)
	whoamiURL := be.URL + "/mcp/tools/whoami"

	relayWorks := func(t *testing.T) {
		t.Helper()
		tc := r.callTool(ctx, "whoami")
		var who whoami
		if tc.err != nil || tc.res.IsError || json.Unmarshal([]byte(tc.text()), &who) != nil || who.Subject != be.User {
			t.Fatalf("the relay stopped working: %v %q\n%s", tc.err, tc.text(), r.Stderr.String())
		}
	}
	refused := func(t *testing.T, authorization, proof, wantErr string) {
		t.Helper()
		resp, body := testkit.PostToolAuth(t, be.URL, "whoami", "{}", authorization, proof)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(strings.Join(resp.Header.Values("WWW-Authenticate"), " "), `error="`+wantErr+`"`) {
			t.Fatalf("status %d, challenge %q, want 401 %s: %s", resp.StatusCode, resp.Header.Values("WWW-Authenticate"), wantErr, body)
		}
		if strings.Contains(body, l.access) {
			t.Fatal("the refusal holds the token")
		}
		relayWorks(t)
	}

	for _, c := range []struct{ name, authorization, proof, wantErr string }{
		{"access token as a bearer token", "Bearer " + l.access, "", "invalid_token"},
		{"access token with another key's proof", "DPoP " + l.access, mustProof(t, other, "POST", whoamiURL, l.access), "invalid_token"},
		{"access token with no proof", "DPoP " + l.access, "", "invalid_dpop_proof"},
		{"proof for another method", "DPoP " + l.access, mustProof(t, l.key, "GET", whoamiURL, l.access), "invalid_dpop_proof"},
		{"proof for another URL", "DPoP " + l.access, mustProof(t, l.key, "POST", be.URL+"/mcp/tools/echo", l.access), "invalid_dpop_proof"},
		{"proof whose ath is another token's", "DPoP " + l.access, mustProof(t, l.key, "POST", whoamiURL, l.access+"x"), "invalid_dpop_proof"},
		// The public key is no secret (every proof carries it): a forger
		// puts it in the header and signs with a key of its own.
		{"proof in the vault key's name signed by another key", "DPoP " + l.access, forge(t, mustProof(t, l.key, "POST", whoamiURL, l.access)), "invalid_dpop_proof"},
	} {
		t.Run(c.name, func(t *testing.T) { refused(t, c.authorization, c.proof, c.wantErr) })
	}
	t.Run("replayed proof", func(t *testing.T) {
		// With the vault's key, a proof works once (the limit DPoP has)...
		p := mustProof(t, l.key, "POST", whoamiURL, l.access)
		if resp, body := testkit.PostToolAuth(t, be.URL, "whoami", "{}", "DPoP "+l.access, p); resp.StatusCode != http.StatusOK {
			t.Fatalf("a fresh proof of the vault's key: %d %s", resp.StatusCode, body)
		}
		// ...and a copy of it, seen on the wire, never again.
		refused(t, "DPoP "+l.access, p, "invalid_dpop_proof")
	})
	for _, c := range []struct{ name, proof string }{
		{"refresh token with no proof", ""}, {"refresh token with another key's proof", mustProof(t, other, "POST", be.URL+"/token", "")},
	} {
		t.Run(c.name, func(t *testing.T) {
			if status, e := refresh(t, be, l, c.proof); status != http.StatusBadRequest || e != "invalid_grant" {
				t.Fatalf("%d %s, want 400 invalid_grant", status, e)
			}
			relayWorks(t)
		})
	}
	if u := r.openedURLs(t); len(u) != 1 {
		t.Fatalf("the relay opened %d browsers in all, want 1: it had to sign in again", len(u))
	}
}

// forge keeps a proof's header and claims and signs them with a new P-256
// key: the signature no longer matches the jwk the header names.
func forge(t *testing.T, proof string) string {
	t.Helper()
	parts := strings.Split(proof, ".")
	priv := testkit.ECKey(t)
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, sg, err := ecdsa.Sign(rand.Reader, priv, sum[:])
	testkit.NoErr(t, err)
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	sg.FillBytes(sig[32:])
	return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
}
