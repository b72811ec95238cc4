package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/keyrelay/keyrelay/backend/authserver"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// relayTestTimeout bounds TestRealBrowserThroughRelay as a whole, from the
// backend's start to the relay's exit. It is longer than testTimeout: the
// relay's login, its code exchange and two backend calls come on top of a
// browser sign-in. The relay's own login timeout (relayLoginTimeout) is
// shorter, so a stuck login fails inside the relay first.
const (
	relayTestTimeout  = 90 * time.Second
	relayLoginTimeout = "60s"
)

// relayProc is one `relay serve` process driven by mcp-go's stdio client.
type relayProc struct {
	*testkit.Session
	env  *testkit.RelayEnv
	sink string // the file urlsink appends each opened URL to
}

// startRelay starts the relay as an MCP stdio server for be, set up as the
// README's default: RELAY_BACKEND_URL and nothing else of OAuth, so the
// relay finds the authorization server from the backend (RFC 9728) and
// registers itself (RFC 7591). On top: a fresh data directory, a file vault
// key, debug logging and urlsink as $BROWSER. It initializes the MCP
// session. When the test ends it closes the session and checks that
// neither the relay nor a urlsink is left running.
func startRelay(t *testing.T, be *backend) *relayProc {
	t.Helper()
	relayExe, sinkExe := testkit.Relay(t), testkit.Build(t, "github.com/keyrelay/keyrelay/browsertest/cmd/urlsink")
	// platform.OpenBrowser splits $BROWSER on spaces, with no quoting.
	if strings.ContainsAny(sinkExe, " \t\n") {
		t.Fatalf("the urlsink path %q contains whitespace, which $BROWSER cannot carry; set TMPDIR to a path without it", sinkExe)
	}
	// The relay's whole environment: nothing from the test's, so an outer
	// RELAY_CALLBACK_PORT, RELAY_SCOPES or BROWSER cannot change the run.
	e := testkit.NewRelayEnv(t)
	r := &relayProc{env: e, sink: filepath.Join(e.Home, "opened-urls.txt")}
	for k, v := range map[string]string{"RELAY_BACKEND_URL": be.URL,
		"RELAY_LOGIN_TIMEOUT": relayLoginTimeout, "BROWSER": sinkExe, "URLSINK_FILE": r.sink} {
		e.Vars[k] = v
	}
	r.Session = testkit.Connect(t, relayExe, e.Environ(), []string{"serve"})
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("relay did not exit cleanly when its stdin closed: %v", err)
		}
		for _, exe := range []string{relayExe, sinkExe} {
			argv0 := []byte(exe + "\x00")
			if left := waitGone(func(cmdline []byte) bool { return bytes.HasPrefix(cmdline, argv0) }, 5*time.Second); len(left) > 0 {
				t.Errorf("%s processes left after the test: %v (killed)", filepath.Base(exe), left)
			}
		}
	})
	if res := r.Initialize(t, "2025-06-18"); res.ProtocolVersion != "2025-06-18" {
		t.Fatalf("relay negotiated protocol %q, want 2025-06-18", res.ProtocolVersion)
	}
	return r
}

// toolCall is the outcome of one tools/call through the relay.
type toolCall struct {
	res  *mcp.CallToolResult
	err  error
	took time.Duration
}

func (r *relayProc) callTool(ctx context.Context, name string) toolCall {
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	start := time.Now()
	res, err := r.Client.CallTool(ctx, req)
	return toolCall{res: res, err: err, took: time.Since(start)}
}

// text joins the result's text content.
func (tc toolCall) text() string {
	if tc.res == nil {
		return ""
	}
	return testkit.Text(tc.res)
}

// openedURLs returns the complete lines urlsink has written so far.
func (r *relayProc) openedURLs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(r.sink)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	testkit.NoErr(t, err)
	b = b[:bytes.LastIndexByte(b, '\n')+1] // a line still being written is not a URL yet
	return strings.Fields(string(b))
}

// waitAuthorizeURL waits for the relay to hand a URL to $BROWSER. It fails
// if the tool call ends first, or ctx does.
func (r *relayProc) waitAuthorizeURL(ctx context.Context, t *testing.T, call <-chan toolCall) string {
	t.Helper()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		if u := r.openedURLs(t); len(u) > 0 {
			if len(u) != 1 {
				t.Fatalf("the relay opened %d browsers for one login, want 1", len(u))
			}
			return u[0]
		}
		select {
		case tc := <-call:
			t.Fatalf("whoami ended before any browser was opened: err %v, isError %v, %q\n%s",
				tc.err, tc.res != nil && tc.res.IsError, tc.text(), r.Stderr.String())
		case <-ctx.Done():
			t.Fatalf("the relay opened no browser: %v\n%s", ctx.Err(), r.Stderr.String())
		case <-tick.C:
		}
	}
}

// checkAuthorizeURL checks the URL the relay asked the browser to open: the
// authorization endpoint, with a client the relay registered itself (the
// built-in server names those dyn-…), no scope parameter (the server's
// defaults), a loopback redirect to /callback, PKCE S256, a state and the
// backend as resource. It returns the query.
func checkAuthorizeURL(t *testing.T, raw string, md *authserver.Metadata, be *backend) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	testkit.NoErr(t, err, "the relay opened an unparsable URL")
	if got := stripQuery(raw); got != md.AuthorizationEndpoint {
		t.Fatalf("the relay opened %s, want the authorization endpoint %s", got, md.AuthorizationEndpoint)
	}
	q := u.Query()
	for k, want := range map[string]string{
		"response_type": "code", "code_challenge_method": "S256", "resource": be.URL,
	} {
		if got := q.Get(k); got != want {
			t.Errorf("authorization request %s = %q, want %q", k, got, want)
		}
	}
	if id := q.Get("client_id"); !strings.HasPrefix(id, "dyn-") {
		t.Errorf("authorization request client_id = %q, want one the relay registered (dyn-…)", id)
	}
	if q.Has("scope") {
		t.Errorf("authorization request names scopes %q, want none (the server's defaults)", q.Get("scope"))
	}
	if q.Get("state") == "" || len(q.Get("code_challenge")) < 43 {
		t.Errorf("authorization request lacks a state or a S256 code_challenge")
	}
	ru, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || ru.Scheme != "http" || ru.Hostname() != "127.0.0.1" || ru.Port() == "" || ru.Path != "/callback" {
		t.Fatalf("redirect_uri = %q, want http://127.0.0.1:PORT/callback", q.Get("redirect_uri"))
	}
	return q
}

// pageState is what waitRelayPage reads from the browser.
type pageState struct {
	Loc   string `json:"loc"`
	Ready string `json:"ready"`
	Text  string `json:"text"`
}

// waitRelayPage waits until the browser shows a fully loaded page under
// prefix (the relay's callback) and returns its URL, query included, and
// its text. The relay answers the callback only once the code exchange is
// over, so the page that loads is already the final verdict.
func waitRelayPage(ctx context.Context, t *testing.T, bctx context.Context, prefix string) pageState {
	t.Helper()
	var last pageState
	var lastErr error
	for {
		// Each probe is short: during a navigation the old document's
		// context goes away and the probe fails; the next one retries.
		pctx, cancel := context.WithTimeout(bctx, 3*time.Second)
		st, err := chromedp.Run(pctx, chromedp.EvaluateAsDevTools[pageState](
			`({loc: document.location.href, ready: document.readyState, text: document.body ? document.body.innerText : ""})`))
		cancel()
		if err == nil {
			last = st
			if strings.HasPrefix(st.Loc, prefix) && st.Ready == "complete" {
				return st
			}
		}
		lastErr = err
		select {
		case <-ctx.Done():
			t.Fatalf("the relay's callback page did not load: %v (last at %s, ready %q, probe error %v)",
				ctx.Err(), stripQuery(last.Loc), last.Ready, lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// whoami is the backend's whoami answer.
type whoami struct {
	Subject  string   `json:"subject"`
	ClientID string   `json:"client_id"`
	Issuer   string   `json:"issuer"`
	Scopes   []string `json:"scopes"`
}

func checkWhoami(t *testing.T, label string, tc toolCall, be *backend, clientID string, stderr *testkit.Buffer) {
	t.Helper()
	if tc.err != nil {
		t.Fatalf("%s: %v\n%s", label, tc.err, stderr.String())
	}
	if tc.res.IsError {
		t.Fatalf("%s returned an error result: %q\n%s", label, tc.text(), stderr.String())
	}
	var who whoami
	if err := json.Unmarshal([]byte(tc.text()), &who); err != nil {
		t.Fatalf("%s text is not JSON: %v: %q", label, err, tc.text())
	}
	if who.Subject != be.User || who.ClientID != clientID || who.Issuer != be.URL {
		t.Fatalf("%s = subject %q, client %q, issuer %q; want %s, %s, %s", label, who.Subject, who.ClientID, who.Issuer, be.User, clientID, be.URL)
	}
	if !slices.Equal(who.Scopes, defaultScopes) {
		t.Fatalf("%s: scopes %v, want %v (admin only on step-up)", label, who.Scopes, defaultScopes)
	}
}

// defaultScopes are what the built-in server grants a client that
// registered itself and names no scope: admin is not among them.
var defaultScopes = []string{"notes:read", "notes:write"}

// checkConsentPage checks what the consent page shows a default set-up:
// the client the relay registered, the warning that it registered itself,
// and the default scopes, without admin.
func checkConsentPage(t *testing.T, bctx context.Context, clientID string) {
	t.Helper()
	text, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("main")))
	testkit.NoErr(t, err, "consent text")
	testkit.Contains(t, "the consent page does not name the client", text, clientID)
	testkit.Contains(t, "the consent page lacks the warning for a client that registered itself", text, "This application registered itself")
	scopes, err := chromedp.Run(bctx, chromedp.EvaluateAsDevTools[[]string](
		`Array.from(document.querySelectorAll("main li code"), e => e.textContent)`))
	testkit.NoErr(t, err, "consent scopes")
	if !slices.Equal(scopes, defaultScopes) {
		t.Errorf("the consent page lists scopes %v, want %v", scopes, defaultScopes)
	}
}

// TestRealBrowserThroughRelay runs the whole chain of issue 4 with the real
// programs, set up as the README's default (only RELAY_BACKEND_URL): the
// relay binary as an MCP stdio server (driven by mcp-go's client), the
// backend binary with its authorization server, and headless Chromium. A
// whoami call with an empty vault makes the relay discover the server,
// register itself and run $BROWSER with the authorization URL; the test
// opens that URL in Chromium, signs in as alice, checks that consent names
// the registered client, warns that it registered itself and lists the
// default scopes (no admin), allows, and the browser's redirect lands on
// the relay's own loopback callback, whose page says "Signed in" once the
// relay has exchanged the code. The call then answers as alice, a second
// call needs no browser, and the relay's debug log holds neither the code
// nor the tokens. Its screenshots are the README's (docs/screenshots).
func TestRealBrowserThroughRelay(t *testing.T) {
	chromiumPath(t)    // skip (or fail under CI) before any work
	testkit.Backend(t) // build before the clock starts
	testkit.Relay(t)
	ctx, cancel := context.WithTimeout(context.Background(), relayTestTimeout)
	t.Cleanup(cancel)

	// Cleanups run in reverse: the browser closes, then the relay, then
	// the backend stops. The login and consent pages' screenshots are the
	// README's: KEYRELAY_SCREENSHOT_DIR=docs/screenshots.
	be := startBackend(t)
	r := startRelay(t, be)
	aq, st, tc1 := signInRelay(ctx, t, be, r, screenshotDir(t))
	redirectURI, clientID := aq.Get("redirect_uri"), aq.Get("client_id")

	// Allow: the authorization server redirected to the relay's callback.
	if stripQuery(st.Loc) != redirectURI {
		t.Fatalf("browser ended at %s, want the relay's callback %s", stripQuery(st.Loc), redirectURI)
	}
	testkit.Contains(t, "the relay's callback page says", st.Text, "Signed in", "keyrelay received your login")
	cu, err := url.Parse(st.Loc)
	testkit.NoErr(t, err, "callback URL")
	cq := cu.Query()
	code := cq.Get("code")
	if code == "" || cq.Has("error") {
		t.Fatalf("the callback carried no code (error present: %v)", cq.Has("error"))
	}
	wantCallback(t, cq, map[string]string{"state": aq.Get("state"), "iss": be.URL}) // iss: RFC 9207

	// The call that started the login answered, as alice.
	t.Logf("first whoami (with the browser sign-in) took %v", tc1.took.Round(time.Millisecond))

	// A second call uses the stored token: no browser.
	tc2 := r.callTool(ctx, "whoami")
	checkWhoami(t, "second whoami", tc2, be, clientID, r.Stderr)
	t.Logf("second whoami took %v", tc2.took.Round(time.Millisecond))
	if u := r.openedURLs(t); len(u) != 1 {
		t.Fatalf("the relay opened %d browsers in all, want 1 (the second whoami must not sign in again)", len(u))
	}

	// End the session, so the relay's stderr is complete, then look in it.
	testkit.NoErr(t, r.Close(), "relay did not exit cleanly when its stdin closed")
	// The stored token is the one the relay used, bound to the vault's
	// DPoP key (the built-in server offers DPoP): the backend takes it
	// with a proof of that key (TestRealBrowserStolenTokens: only so).
	l := readVault(ctx, t, r, be)
	access, refresh, rec := l.access, l.refresh, l.rec
	if rec.Subject != "" && rec.Subject != be.User {
		t.Errorf("the vault record's subject is %q, want %q", rec.Subject, be.User)
	}
	p := mustProof(t, l.key, "POST", be.URL+"/mcp/tools/whoami", access)
	if resp, body := testkit.PostToolAuth(t, be.URL, "whoami", "{}", "DPoP "+access, p); resp.StatusCode != http.StatusOK {
		t.Fatalf("whoami with the vault's access token and a proof: status %d: %s", resp.StatusCode, body)
	}

	logs := r.Stderr.String()
	testkit.Contains(t, "no debug output captured from the relay; the checks below would prove nothing", logs, "level=DEBUG")
	// No value is printed on a match: it would put the secret in the test log.
	der, err := l.key.Marshal()
	testkit.NoErr(t, err)
	for name, s := range map[string]string{"the authorization code from the callback URL": code, "the access token": access, "the refresh token": refresh,
		"the DPoP key": rec.DPoPKey.Reveal(), "the DPoP key's DER": string(der)} {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("%s appears in the relay's stderr", name)
		}
	}
}
