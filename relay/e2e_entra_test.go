package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/server"

	"github.com/keyrelay/keyrelay/backend/bearer"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/chain"
)

// The Entra-like server's tenant and the relay's application (client) id:
// made-up GUIDs in the form Entra ID uses.
const (
	entraTenant = "0b2f5e8c-7c1d-4a3e-9f6b-2d4c8a1e7f90"
	entraApp    = "6a1d3c4e-2b7f-4e8a-9c0d-5f3b1a2e4d6c"
	entraScopes = "api://" + entraApp + "/mcp.tools offline_access"
)

// entraAS is a local authorization server whose metadata looks like
// Microsoft Entra ID's v2.0 endpoint: the issuer has the tenant in its
// path (ISSUER = http://127.0.0.1:PORT/TENANT/v2.0), the OpenID
// configuration is only at ISSUER/.well-known/openid-configuration, there
// is no registration or revocation endpoint, code_challenge_methods_supported
// is left out (methods: nil), and `resource` is refused. It does PKCE with
// S256 for real: the authorization request must carry an S256 challenge,
// and the token request the verifier that matches it.
type entraAS struct {
	srv     *httptest.Server
	issuer  string
	methods []string // code_challenge_methods_supported; nil: left out, as Entra ID does

	mu         sync.Mutex
	codes      map[string]entraCode
	access     map[string]string // access token → scope
	refresh    map[string]string // refresh token → scope
	secrets    []string          // every code and token issued, to look for in logs
	authorizes int               // authorization requests
	exchanged  int               // codes exchanged with the right verifier
	refused    []string          // what was refused, and why
}

type entraCode struct{ challenge, redirect, scope string }

func newEntraAS(t *testing.T, methods []string) *entraAS {
	t.Helper()
	as := &entraAS{methods: methods, codes: map[string]entraCode{}, access: map[string]string{}, refresh: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /"+entraTenant+"/v2.0/.well-known/openid-configuration", as.config)
	mux.HandleFunc("GET /"+entraTenant+"/oauth2/v2.0/authorize", as.authorize)
	mux.HandleFunc("POST /"+entraTenant+"/oauth2/v2.0/token", as.token)
	as.srv = httptest.NewServer(mux)
	t.Cleanup(as.srv.Close)
	as.issuer = as.srv.URL + "/" + entraTenant + "/v2.0"
	return as
}

// config is the OpenID configuration, with the fields Entra ID's has
// (trimmed of its claims and Microsoft-only extras).
func (as *entraAS) config(w http.ResponseWriter, _ *http.Request) {
	base := as.srv.URL + "/" + entraTenant
	doc := map[string]any{
		"issuer":                                as.issuer,
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"userinfo_endpoint":                     "https://graph.microsoft.com/oidc/userinfo",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"request_uri_parameter_supported":       false,
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"cloud_instance_name":                   "microsoftonline.com",
	}
	if as.methods != nil {
		doc["code_challenge_methods_supported"] = as.methods
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}

func (as *entraAS) refuse(why string) {
	as.mu.Lock()
	as.refused = append(as.refused, why)
	as.mu.Unlock()
}

func (as *entraAS) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	as.mu.Lock()
	as.authorizes++
	as.mu.Unlock()
	ru, err := url.Parse(q.Get("redirect_uri"))
	if q.Get("client_id") != entraApp || err != nil || ru.Scheme != "http" || ru.Hostname() != "127.0.0.1" {
		as.refuse("client_id or redirect_uri")
		http.Error(w, "AADSTS700016-like: unknown application or redirect URI", http.StatusBadRequest)
		return
	}
	back := func(v url.Values) {
		v.Set("state", q.Get("state"))
		ru.RawQuery = v.Encode()
		http.Redirect(w, r, ru.String(), http.StatusFound)
	}
	switch {
	case q.Has("resource"):
		as.refuse("resource")
		back(url.Values{"error": {"invalid_target"}, "error_description": {"AADSTS9010010-like: the resource parameter is not supported"}})
		return
	case q.Get("response_type") != "code":
		as.refuse("response_type")
		back(url.Values{"error": {"unsupported_response_type"}})
		return
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		as.refuse("no S256 challenge")
		back(url.Values{"error": {"invalid_request"}, "error_description": {"an S256 code_challenge is required"}})
		return
	}
	code := entraRandom("code")
	as.mu.Lock()
	as.codes[code] = entraCode{challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), scope: q.Get("scope")}
	as.secrets = append(as.secrets, code)
	as.mu.Unlock()
	back(url.Values{"code": {code}, "session_state": {entraRandom("session")}})
}

func (as *entraAS) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		entraError(w, "invalid_request", "bad form")
		return
	}
	f := r.PostForm
	client := f.Get("client_id")
	if u, _, ok := r.BasicAuth(); ok {
		client = u
	}
	if f.Has("resource") {
		as.refuse("resource on the token request")
		entraError(w, "invalid_target", "AADSTS9010010-like: the resource parameter is not supported")
		return
	}
	if client != entraApp {
		as.refuse("token: client_id")
		entraError(w, "invalid_client", "AADSTS700016-like: unknown application")
		return
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	var scope string
	switch f.Get("grant_type") {
	case "authorization_code":
		c, ok := as.codes[f.Get("code")]
		delete(as.codes, f.Get("code")) // single use, whatever happens next
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		switch {
		case !ok || c.redirect != f.Get("redirect_uri"):
			as.refused = append(as.refused, "token: code or redirect_uri")
			entraError(w, "invalid_grant", "AADSTS70008-like: the code is not valid")
			return
		case base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge:
			as.refused = append(as.refused, "token: code_verifier")
			entraError(w, "invalid_grant", "AADSTS501481-like: the code_verifier does not match the code_challenge")
			return
		}
		as.exchanged++
		scope = c.scope
	case "refresh_token":
		s, ok := as.refresh[f.Get("refresh_token")]
		if !ok {
			entraError(w, "invalid_grant", "AADSTS70000-like: the refresh token is not valid")
			return
		}
		delete(as.refresh, f.Get("refresh_token"))
		scope = s
	default:
		entraError(w, "unsupported_grant_type", "")
		return
	}
	at, rt := entraRandom("access"), entraRandom("refresh")
	as.access[at], as.refresh[rt] = scope, scope
	as.secrets = append(as.secrets, at, rt)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "scope": scope, "expires_in": 3599,
		"ext_expires_in": 3599, "access_token": at, "refresh_token": rt})
}

func entraError(w http.ResponseWriter, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func entraRandom(kind string) string {
	return "entra-" + kind + "-" + rand.Text()
}

// counts returns the authorization requests, the good code exchanges and
// the refusals so far.
func (as *entraAS) counts() (authorizes, exchanged int, refused []string) {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.authorizes, as.exchanged, append([]string(nil), as.refused...)
}

// leaked returns the first code or token issued that s holds.
func (as *entraAS) leaked(s string) string {
	as.mu.Lock()
	defer as.mu.Unlock()
	for _, v := range as.secrets {
		if strings.Contains(s, v) {
			return v
		}
	}
	return ""
}

// mcp starts an MCP server (the package's testMCPServer) on a host of its
// own, which accepts only access tokens as issued; it publishes no
// protected resource metadata, as APIs behind Entra ID usually do not.
func (as *entraAS) mcp(t *testing.T) string {
	t.Helper()
	h := server.NewStreamableHTTPServer(testMCPServer("/mcp"), server.WithEndpointPath("/mcp"),
		server.WithHTTPContextFunc(func(ctx context.Context, r *http.Request) context.Context {
			return context.WithValue(ctx, tokenKey{}, r.Context().Value(tokenKey{}))
		}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		as.mu.Lock()
		scope, ok := as.access[tok]
		as.mu.Unlock()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		bt := &bearer.Token{Subject: chain.User, Issuer: as.issuer, Scopes: strings.Fields(scope)}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, bt)))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/mcp"
}

// entraEnv is a relay configured as docs/providers.md's Entra ID recipe
// says, against as, without RELAY_ASSUME_PKCE_S256.
func entraEnv(t *testing.T, as *entraAS) *relayEnv {
	t.Helper()
	return bareEnv(t, map[string]string{"RELAY_MCP_URL": as.mcp(t), "RELAY_AUTH_SERVER_URL": as.issuer, "RELAY_CLIENT_ID": entraApp,
		"RELAY_RESOURCE": "off", "RELAY_SCOPES": entraScopes})
}

// refusedBeforeAnyBrowser checks a `relay login` that must fail with exit
// code, an error holding each of want and a hint holding hint, before a
// browser opened or the server saw an authorization request.
func refusedBeforeAnyBrowser(t *testing.T, e *relayEnv, as *entraAS, code int, hint string, want ...string) string {
	t.Helper()
	stderr := e.Says(t, code, "login")
	testkit.Contains(t, "the hint", lineOf(t, stderr, "relay: hint: "), hint)
	errLine := strings.TrimPrefix(errorLine(t, stderr), "relay: error: ")
	testkit.Contains(t, "the error", errLine, want...)
	if n, _, _ := as.counts(); n != 0 || e.opens() != 0 || e.hasTokens() {
		t.Fatalf("%d authorization requests, %d browsers opened, tokens stored %v", n, e.opens(), e.hasTokens())
	}
	return errLine
}

// TestEntra_SignsInOnlyWithTheSetting: against an Entra-like server whose
// metadata omits code_challenge_methods_supported, the relay refuses to
// sign in, with an error and a hint naming RELAY_ASSUME_PKCE_S256 (the CLI
// and the stdio server). With the setting naming the issuer exactly, it
// signs in: it still sends an S256 challenge and the verifier, which the
// server checks; status shows the assumption; tool calls carry the token.
func TestEntra_SignsInOnlyWithTheSetting(t *testing.T) {
	as := newEntraAS(t, nil)
	e := entraEnv(t, as)

	refusedBeforeAnyBrowser(t, e, as, exitLogin, "set RELAY_ASSUME_PKCE_S256 to the issuer named above only if you know it does PKCE with S256",
		"sign-in failed: oauth: authorization server does not support PKCE with S256: the metadata does not list code_challenge_methods_supported",
		"if "+as.issuer+" does PKCE with S256 anyway (Microsoft Entra ID does), set RELAY_ASSUME_PKCE_S256="+as.issuer)
	e.start().fails(t, "whoami", "does not list code_challenge_methods_supported", "RELAY_ASSUME_PKCE_S256="+as.issuer)
	if n, _, _ := as.counts(); n != 0 || e.opens() != 0 {
		t.Fatalf("the stdio server reached the sign-in: %d authorization requests, %d browsers", n, e.opens())
	}

	e.Vars["RELAY_ASSUME_PKCE_S256"] = as.issuer
	stderr := e.Says(t, 0, "login", "relay: signed in as (unknown) (scopes: "+entraScopes, "PKCE with S256 assumed", "by=RELAY_ASSUME_PKCE_S256")
	if authorizes, exchanged, refused := as.counts(); authorizes != 1 || exchanged != 1 || len(refused) != 0 || e.opens() != 1 {
		t.Fatalf("%d authorization requests, %d codes exchanged with the right verifier, refused %q, %d browsers",
			authorizes, exchanged, refused, e.opens())
	}
	if v := as.leaked(stderr); v != "" {
		t.Fatalf("login's stderr holds a code or token the server issued: %s", v)
	}

	e.Prints(t, 0, "status", "\npkce:        S256 assumed for "+as.issuer+" (RELAY_ASSUME_PKCE_S256)\n")
	out := e.Prints(t, 0, "status --json")
	var r struct {
		LoggedIn bool                          `json:"logged_in"`
		PKCE     []struct{ Issuer, By string } `json:"pkce_s256_assumed"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || !r.LoggedIn || len(r.PKCE) != 1 ||
		r.PKCE[0].Issuer != as.issuer || r.PKCE[0].By != "RELAY_ASSUME_PKCE_S256" {
		t.Fatalf("status --json: %v\n%s", err, out)
	}

	s := e.start()
	if text := s.MustCall(t, "whoami", nil); text != "subject="+chain.User+" scopes="+entraScopes {
		t.Fatalf("whoami: %s", text)
	}
	if authorizes, _, _ := as.counts(); authorizes != 1 {
		t.Fatalf("the stdio server signed in again: %d authorization requests", authorizes)
	}
	if v := as.leaked(s.Stderr.String()); v != "" {
		t.Fatalf("serve's stderr holds a code or token the server issued: %s", v)
	}
	s.Close()

	// Entra ID's metadata has no revocation endpoint: logout wipes, and
	// says the sign-in was not revoked (exit 5).
	if _, stderr, code := e.Run(t, "logout"); code != exitNotRevoked || e.hasTokens() {
		t.Fatalf("logout: exit %d, tokens left %v\n%s", code, e.hasTokens(), stderr)
	}
}

// TestEntra_FlagSignsInToo: --assume-pkce-s256 is the same setting.
func TestEntra_FlagSignsInToo(t *testing.T) {
	as := newEntraAS(t, nil)
	e := entraEnv(t, as)
	e.Says(t, 0, "login --assume-pkce-s256 "+as.issuer)
	if _, exchanged, refused := as.counts(); exchanged != 1 {
		t.Fatalf("login --assume-pkce-s256: %d exchanged, refused %q", exchanged, refused)
	}
}

// TestEntra_OtherIssuerRefused: the setting matches the issuer exactly,
// nothing looser: another tenant, a trailing slash, another case, the
// host alone, the v1.0 form. Each is refused before any browser, saying
// which issuer the setting names.
func TestEntra_OtherIssuerRefused(t *testing.T) {
	as := newEntraAS(t, nil)
	e := entraEnv(t, as)
	host := as.srv.URL
	for name, v := range map[string]string{
		"other tenant":   host + "/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
		"trailing slash": as.issuer + "/",
		"upper case":     strings.Replace(as.issuer, entraTenant, strings.ToUpper(entraTenant), 1),
		"host alone":     host,
		"v1.0 form":      host + "/" + entraTenant + "/",
	} {
		t.Run(name, func(t *testing.T) {
			e.Vars["RELAY_ASSUME_PKCE_S256"] = v
			refusedBeforeAnyBrowser(t, e, as, exitLogin, "RELAY_ASSUME_PKCE_S256",
				"does not list code_challenge_methods_supported",
				"S256 is assumed only for "+v+" (RELAY_ASSUME_PKCE_S256), not for "+as.issuer+": issuers must match exactly")
		})
	}
	e.Vars["RELAY_ASSUME_PKCE_S256"] = as.issuer + " " + host
	e.Says(t, exitUsage, "login", "RELAY_ASSUME_PKCE_S256", "want one issuer URL, not a list")
}

// TestEntra_PlainOnlyRefusedEvenWithTheSetting: only an omitted list is
// assumed. A server that lists "plain" alone is refused with the setting
// naming it, and the hint says no setting helps.
func TestEntra_PlainOnlyRefusedEvenWithTheSetting(t *testing.T) {
	as := newEntraAS(t, []string{"plain"})
	e := entraEnv(t, as)
	e.Vars["RELAY_ASSUME_PKCE_S256"] = as.issuer
	line := refusedBeforeAnyBrowser(t, e, as, exitLogin, "no setting changes that",
		"sign-in failed: oauth: authorization server does not support PKCE with S256")
	if strings.Contains(line, "code_challenge_methods_supported") || strings.Contains(line, "RELAY_ASSUME_PKCE_S256") {
		t.Fatalf("the error points at the setting, which cannot help: %s", line)
	}
	e.start().fails(t, "whoami", "does not support PKCE with S256")
	if n, _, _ := as.counts(); n != 0 {
		t.Fatalf("%d authorization requests", n)
	}
}

// TestEntra_ResourceNeedsOff: the Entra-like server refuses `resource`,
// as Entra ID v2.0 does; without RELAY_RESOURCE=off the sign-in fails
// with the server's error, so the recipe's RELAY_RESOURCE=off is needed.
func TestEntra_ResourceNeedsOff(t *testing.T) {
	as := newEntraAS(t, nil)
	e := entraEnv(t, as)
	e.Vars["RELAY_ASSUME_PKCE_S256"] = as.issuer
	delete(e.Vars, "RELAY_RESOURCE")
	e.Says(t, exitLogin, "login", "invalid_target")
	if _, exchanged, refused := as.counts(); exchanged != 0 || fmt.Sprint(refused) != "[resource]" {
		t.Fatalf("login with resource: %d exchanged, refused %q", exchanged, refused)
	}
}

// TestEntra_VerifierIsChecked proves the test server is not a push-over:
// a code exchanged without its verifier, or with another, is refused.
// This is what PKCE buys, and what an assumption for a server that does
// not do PKCE would lose (SECURITY.md).
func TestEntra_VerifierIsChecked(t *testing.T) {
	as := newEntraAS(t, nil)
	base := as.srv.URL + "/" + entraTenant + "/oauth2/v2.0/"
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	verifier := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	code := func() string {
		q := url.Values{"client_id": {entraApp}, "response_type": {"code"}, "redirect_uri": {"http://127.0.0.1:1/callback"},
			"state": {"s"}, "code_challenge_method": {"S256"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}}
		resp, err := hc.Get(base + "authorize?" + q.Encode())
		testkit.NoErr(t, err)
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		testkit.NoErr(t, err)
		return loc.Query().Get("code")
	}
	exchange := func(code string, verifier ...string) int {
		f := url.Values{"client_id": {entraApp}, "grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"http://127.0.0.1:1/callback"}}
		if len(verifier) > 0 {
			f.Set("code_verifier", verifier[0])
		}
		resp, err := hc.PostForm(base+"token", f)
		testkit.NoErr(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	if exchange(code()) != http.StatusBadRequest || exchange(code(), rand.Text()+rand.Text()) != http.StatusBadRequest {
		t.Fatal("a code was exchanged without its verifier")
	}
	if exchange(code(), verifier) != http.StatusOK {
		t.Fatal("control: the right verifier was refused")
	}
}

// TestEntra_Policy: the administrator's assume_pkce_s256 names the issuer,
// and the relay signs in with no setting of the user's; status names the
// policy file. An empty list forbids the user's setting (exit 2, before
// any browser).
func TestEntra_Policy(t *testing.T) {
	t.Run("policy names the issuer", func(t *testing.T) {
		as := newEntraAS(t, nil)
		e := entraEnv(t, as)
		path := e.usePolicy(`{"assume_pkce_s256": ["` + as.issuer + `"]}`)
		e.Says(t, 0, "login")
		if _, exchanged, refused := as.counts(); exchanged != 1 {
			t.Fatalf("login under the policy: %d exchanged, refused %q", exchanged, refused)
		}
		e.Prints(t, 0, "status", "\npkce:        S256 assumed for "+as.issuer+" (assume_pkce_s256 of "+path+")\n",
			"PKCE S256 assumed for: "+as.issuer+" (no other issuer)")
	})
	t.Run("policy forbids the setting", func(t *testing.T) {
		as := newEntraAS(t, nil)
		e := entraEnv(t, as)
		path := e.usePolicy(`{"assume_pkce_s256": []}`)
		e.Vars["RELAY_ASSUME_PKCE_S256"] = as.issuer
		refusedBeforeAnyBrowser(t, e, as, exitUsage, "the administrator's policy forbids this",
			"refused by policy: RELAY_ASSUME_PKCE_S256 names \""+as.issuer+"\", which assume_pkce_s256 of "+path+" does not list")
		e.start().fails(t, "whoami", "assume_pkce_s256")
		delete(e.Vars, "RELAY_ASSUME_PKCE_S256")
		refusedBeforeAnyBrowser(t, e, as, exitUsage, "the administrator's policy forbids this",
			"does not list code_challenge_methods_supported; refused by policy: assume_pkce_s256 does not list "+as.issuer)
	})
}
