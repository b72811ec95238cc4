package interop

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// Ory Hydra as the authorization server: a real Hydra binary (v2.3.0,
// built from the module proxy by scripts/build-hydra.sh, never part of the
// repository), in memory on loopback, with a login-and-consent app of the
// test's own.
const (
	hydraUser      = "alice"
	hydraPassword  = "correct horse battery" // the login app's one user
	hydraSubject   = "hydra-user-1"          // the subject it accepts her as
	hydraAudience  = "https://api.keyrelay.test/notes"
	hydraBackendID = "keyrelay-backend" // the backend's client id for introspection
	hydraScopes    = "openid offline_access notes:read"
)

// hydraBuild finds or builds the Hydra binary once per test process:
// $KEYRELAY_HYDRA (CI builds it in the background, .ci/run), else
// scripts/build-hydra.sh into the user's cache directory, which keeps it
// for the next run (about 2 minutes the first time on 2 cores).
var hydraBuild = sync.OnceValues(func() (string, error) {
	if p := os.Getenv("KEYRELAY_HYDRA"); p != "" {
		if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("KEYRELAY_HYDRA=%s is not an executable file", p)
		}
		return p, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for the Hydra build: %v", err)
	}
	script, err := filepath.Abs(filepath.Join("..", "scripts", "build-hydra.sh"))
	if err != nil {
		return "", err
	}
	var stderr bytes.Buffer
	cmd := exec.Command(script, filepath.Join(cache, "keyrelay-hydra"))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %v\n%s", script, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1], nil
})

// hydraBin returns the Hydra binary, or skips the test (fails it under
// CI=true) when it cannot be had.
func hydraBin(t *testing.T) string {
	t.Helper()
	start := time.Now()
	p, err := hydraBuild()
	if err != nil {
		testkit.SkipOrFail(t, "Ory Hydra is not available: "+err.Error())
	}
	if d := time.Since(start); d > time.Second {
		t.Logf("built Ory Hydra in %v: %s", d.Round(time.Second), p)
	}
	return p
}

// hydra is a running Hydra with spies in front of its two ports.
type hydra struct {
	Issuer string // the public port's spy, which Hydra names as its issuer
	Admin  string // the admin port's spy (introspection)
	admin  string // the admin port itself, for the login app

	counts
	introspections atomic.Int64

	mu       sync.Mutex
	auths    []url.Values // authorization requests
	consents []hydraConsent
}

// hydraConsent is what a consent request asked for.
type hydraConsent struct {
	Scopes   []string `json:"requested_scope"`
	Audience []string `json:"requested_access_token_audience"`
	Subject  string   `json:"subject"`
}

// startHydra runs `hydra serve all --dev` on DSN=memory, with opaque
// access tokens or, with jwt, `strategies.access_token=jwt`, and
// registers the relay's public client.
// Its logs are shown only if the test fails.
func startHydra(t *testing.T, accessTokens string) *hydra {
	t.Helper()
	bin := hydraBin(t)
	h := &hydra{}
	pub, adm := testkit.FreeAddr(t), testkit.FreeAddr(t)
	h.admin = "http://" + adm
	pubSpy, admSpy := h.spy(t, "http://"+pub, false), h.spy(t, h.admin, true)
	h.Issuer, h.Admin = pubSpy.URL, admSpy.URL
	app := httptest.NewServer(h.loginApp())
	t.Cleanup(app.Close)

	var secret [24]byte
	_, _ = rand.Read(secret[:])
	_, pubPort, _ := strings.Cut(pub, ":")
	_, admPort, _ := strings.Cut(adm, ":")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"DSN=memory", "SECRETS_SYSTEM=" + hex.EncodeToString(secret[:]),
		"SERVE_PUBLIC_HOST=127.0.0.1", "SERVE_PUBLIC_PORT=" + pubPort,
		"SERVE_ADMIN_HOST=127.0.0.1", "SERVE_ADMIN_PORT=" + admPort,
		"URLS_SELF_ISSUER=" + h.Issuer, "URLS_SELF_PUBLIC=" + h.Issuer,
		"URLS_LOGIN=" + app.URL + "/login", "URLS_CONSENT=" + app.URL + "/consent",
		"STRATEGIES_ACCESS_TOKEN=" + accessTokens,
		"OAUTH2_PKCE_ENFORCED_FOR_PUBLIC_CLIENTS=true",
		"SQA_OPT_OUT=true", // no telemetry
		// Warnings and errors only: its request log would show the
		// redirects' codes (shown if the test fails).
		"LOG_LEVEL=warn", "LOG_FORMAT=text",
	}
	d := testkit.StartDaemon(t, bin, env, "serve", "all", "--dev", "--sqa-opt-out")
	d.WaitHealthy(t, h.admin+"/health/ready")
	d.WaitHealthy(t, "http://"+pub+"/health/ready")
	// Hydra makes its signing keys (RSA 4096) on the first request for
	// the metadata and the JWKS, which can take longer than the backend's
	// 5 s discovery timeout on a busy machine: ask first.
	warm := &http.Client{Timeout: 60 * time.Second}
	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/jwks.json"} {
		resp, err := warm.Get("http://" + pub + p)
		if err != nil {
			t.Fatalf("hydra %s: %v", p, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("hydra %s: %s", p, resp.Status)
		}
	}

	// The relay: a native public client (PKCE, no secret), loopback
	// redirect on any port, allowed the backend's audience.
	h.createClient(t, map[string]any{
		"client_id": relayClientID, "token_endpoint_auth_method": "none",
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		"redirect_uris": []string{"http://127.0.0.1/callback"}, "scope": hydraScopes + " notes:write",
		"audience": []string{hydraAudience},
	})
	// No client for the backend: Hydra's admin introspection endpoint
	// does not authenticate its callers (checked with v2.3.0: no, wrong
	// and unknown credentials get the same answer). The backend still
	// sends its id and secret, which a proxy in front of the admin port
	// may check.
	return h
}

// hydraBackendSecret is the secret the backend sends (a test value, in a
// 0600 file for the backend).
const hydraBackendSecret = "backend-secret-of-32-characters!"

// spy is a reverse proxy to target that counts the requests the tests
// check: code exchanges, refreshes, revocations, introspections; and
// keeps the authorization requests (never logged whole: they are
// redacted with redactQuery).
func (h *hydra) spy(t *testing.T, target string, admin bool) *httptest.Server {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = nil
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case admin && r.URL.Path == "/admin/oauth2/introspect":
			h.introspections.Add(1)
		case r.URL.Path == "/oauth2/auth":
			h.mu.Lock()
			h.auths = append(h.auths, r.URL.Query())
			h.mu.Unlock()
		case r.URL.Path == "/oauth2/revoke":
			h.revokes.Add(1)
		case r.Method == http.MethodPost && r.URL.Path == "/oauth2/token":
			h.grant(peekForm(w, r))
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (h *hydra) authRequests() []url.Values {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]url.Values(nil), h.auths...)
}

func (h *hydra) consentRequests() []hydraConsent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hydraConsent(nil), h.consents...)
}

// createClient registers an OAuth client through the admin API.
func (h *hydra) createClient(t *testing.T, c map[string]any) {
	t.Helper()
	status, body, err := h.adminCall(context.Background(), http.MethodPost, "/admin/clients", c)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("create client %v: %d %v %.300s", c["client_id"], status, err, body)
	}
}

// adminCall sends JSON to the admin API and returns the status and body.
func (h *hydra) adminCall(ctx context.Context, method, path string, in any) (int, []byte, error) {
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, h.admin+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// accept PUTs an accept request for a login or consent challenge and
// returns where Hydra sends the browser next.
func (h *hydra) accept(ctx context.Context, kind, challenge string, body any) (string, error) {
	path := "/admin/oauth2/auth/requests/" + kind + "/accept?" + kind + "_challenge=" + url.QueryEscape(challenge)
	status, b, err := h.adminCall(ctx, http.MethodPut, path, body)
	if err != nil {
		return "", err
	}
	var r struct {
		RedirectTo string `json:"redirect_to"`
	}
	if status != http.StatusOK || json.Unmarshal(b, &r) != nil || r.RedirectTo == "" {
		return "", fmt.Errorf("accept %s: %d %.300s", kind, status, b)
	}
	return r.RedirectTo, nil
}

// loginApp is the login-and-consent app Hydra sends the browser to. Its
// login page is a form (username, password, and the challenge in a hidden
// "id" field, the shape zbrowser fills in); consent grants what was asked
// (the scopes, and the audience the client is allowed), and records it.
func (h *hydra) loginApp() http.Handler {
	mux := http.NewServeMux()
	form := func(w http.ResponseWriter, challenge, msg string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if msg != "" {
			msg = `<p style="color: red">` + html.EscapeString(msg) + `</p>`
		}
		fmt.Fprintf(w, `<!doctype html><title>Sign in</title>%s<form method="post" action="/login">`+
			`<input type="hidden" name="id" value="%s"><input name="username"><input type="password" name="password">`+
			`<button>Sign in</button></form>`, msg, html.EscapeString(challenge))
	}
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		form(w, r.URL.Query().Get("login_challenge"), "")
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
		if r.ParseForm() != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		challenge := r.PostForm.Get("id")
		if r.PostForm.Get("username") != hydraUser || r.PostForm.Get("password") != hydraPassword {
			form(w, challenge, "wrong username or password")
			return
		}
		next, err := h.accept(r.Context(), "login", challenge, map[string]any{"subject": hydraSubject})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		http.Redirect(w, r, next, http.StatusFound)
	})
	mux.HandleFunc("GET /consent", func(w http.ResponseWriter, r *http.Request) {
		challenge := r.URL.Query().Get("consent_challenge")
		status, b, err := h.adminCall(r.Context(), http.MethodGet,
			"/admin/oauth2/auth/requests/consent?consent_challenge="+url.QueryEscape(challenge), nil)
		var c hydraConsent
		if err == nil && (status != http.StatusOK || json.Unmarshal(b, &c) != nil) {
			err = fmt.Errorf("consent request: %d %.300s", status, b)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		h.mu.Lock()
		h.consents = append(h.consents, c)
		h.mu.Unlock()
		next, err := h.accept(r.Context(), "consent", challenge, map[string]any{
			"grant_scope": c.Scopes, "grant_access_token_audience": c.Audience,
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		http.Redirect(w, r, next, http.StatusFound)
	})
	return mux
}

// hydraBackend runs the backend binary against Hydra. introspection
// "off" is JWKS only; "opaque" introspects opaque tokens and checks JWTs
// by their signature; "all" introspects every token. The introspection
// cache is off, so that a revocation counts at the next call.
func hydraBackend(t *testing.T, h *hydra, introspection string) string {
	t.Helper()
	env := []string{"AUTH_SERVER_URL=" + h.Issuer, "BACKEND_AUDIENCE=" + hydraAudience, "BACKEND_LOG_LEVEL=debug"}
	switch introspection {
	case "off":
	case "opaque", "all":
		secretFile := testkit.WriteTemp(t, "backend-secret", hydraBackendSecret, 0o600)
		env = append(env, "BACKEND_INTROSPECTION=1", "BACKEND_INTROSPECTION_URL="+h.Admin+"/admin/oauth2/introspect",
			"BACKEND_CLIENT_ID="+hydraBackendID, "BACKEND_CLIENT_SECRET_FILE="+secretFile, "BACKEND_INTROSPECTION_CACHE=0")
		if introspection == "all" {
			env = append(env, "BACKEND_INTROSPECT_ALL=1")
		}
	default:
		t.Fatalf("introspection %q", introspection)
	}
	return testkit.StartBackend(t, env...)
}
