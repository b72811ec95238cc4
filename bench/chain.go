package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"
	"github.com/golang-jwt/jwt/v5"
)

// chain is everything the whole-process figures run against: the backend
// binary with its built-in authorization server (ES256 tokens) and a relay
// signed in to it, and a second backend in HS256 mode for throughput.
type chain struct {
	bins     string // directory with relay, backend, fakebrowser
	tmp      string
	es       *authBackend
	token    string // the relay's access token, for the direct calls
	hsURL    string // HS256 backend URL
	hsSecret []byte
	hs       *daemon
	baseline *relayBin // with -baseline: the second relay, signed in to es
}

// relayBin is a relay binary under measurement and the environment it is
// run with.
type relayBin struct {
	name string // "relay", "relay (baseline)": the report's row
	bin  string
	env  []string
}

// baselineName is the report's name of the -baseline relay.
const baselineName = "relay (baseline)"

// relays are the relay binaries to measure, the current one first.
func (c *chain) relays() []relayBin {
	out := []relayBin{{"relay", filepath.Join(c.bins, "relay"), c.relayEnv()}}
	if c.baseline != nil {
		out = append(out, *c.baseline)
	}
	return out
}

// addBaseline signs the relay binary bin in to the same backend as the
// current relay, with its own data directory and vault key, so that it
// runs in the same environment as the current relay, only with a vault of
// its own making.
func (c *chain) addBaseline(ctx context.Context, bin string) error {
	dir := filepath.Join(c.tmp, "main", "baseline")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	dataDir, keyFile := filepath.Join(dir, "relay-data"), filepath.Join(dir, "vault-key.txt")
	if _, err := c.es.loginWith(ctx, bin, dataDir, keyFile); err != nil {
		return err
	}
	c.baseline = &relayBin{baselineName, bin, c.es.relayEnvAt(dataDir, keyFile)}
	return nil
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func newChain(ctx context.Context, bins, tmp string) (*chain, error) {
	c := &chain{bins: bins, tmp: tmp}
	var err error
	if c.es, err = startAuthBackend(ctx, bins, tmp, "main", "1h", "AUTH_DPOP=0"); err != nil {
		return nil, err
	}
	if c.token, err = c.es.login(ctx); err != nil {
		c.close()
		return nil, err
	}
	if err := c.startHS256(ctx); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *chain) close() {
	c.es.close()
	if c.hs != nil {
		c.hs.stop()
	}
}

func (c *chain) relayEnv() []string { return c.es.relayEnv() }

const benchUser = "bench"

var benchPassword = randomString(12)

// authBackend is `backend --auth-server` with its authorization server on
// its own listener, behind a proxy whose URL is the issuer: the proxy
// counts refresh requests and keeps the last access token issued. It has
// its own relay data directory and file vault key.
type authBackend struct {
	bins, tmp        string
	url, issuer      string
	dataDir, keyFile string
	refresh          atomic.Int64
	mu               sync.Mutex
	lastToken        string
	issued           time.Time
	d                *daemon
	proxy            *http.Server
}

// extra are more backend settings: the bearer chain's backends run with
// AUTH_DPOP=0, so that their figures stay those of bearer tokens (the
// dpop part measures DPoP beside them).
func startAuthBackend(ctx context.Context, bins, tmp, name, ttl string, extra ...string) (*authBackend, error) {
	dir := filepath.Join(tmp, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	a := &authBackend{bins: bins, tmp: tmp, dataDir: filepath.Join(dir, "relay-data"), keyFile: filepath.Join(dir, "vault-key.txt")}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a.issuer = "http://" + ln.Addr().String()
	authAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	target, _ := url.Parse("http://" + authAddr)
	a.proxy = &http.Server{Handler: a.spy(httputil.NewSingleHostReverseProxy(target)), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.proxy.Serve(ln) }()
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	a.url = "http://" + addr
	a.d, err = startDaemon(filepath.Join(bins, "backend"), []string{"--auth-server"}, baseEnv(tmp, append([]string{
		"BACKEND_ADDR=" + addr, "AUTH_SERVER_ADDR=" + authAddr, "AUTH_SERVER_URL=" + a.issuer,
		"AUTH_USERS=" + benchUser + ":" + benchPassword, "AUTH_TOKEN_TTL=" + ttl, "BACKEND_LOG_LEVEL=warn"}, extra...)...))
	if err != nil {
		a.close()
		return nil, err
	}
	if err := waitHealthy(ctx, a.url+"/healthz"); err != nil {
		a.close()
		return nil, fmt.Errorf("backend: %w\n%s", err, a.d.stderr)
	}
	return a, waitHealthy(ctx, a.issuer+"/.well-known/oauth-authorization-server")
}

func (a *authBackend) close() {
	if a == nil {
		return
	}
	if a.d != nil {
		a.d.stop()
	}
	_ = a.proxy.Close()
}

// spy counts refresh requests and keeps the access token of each token
// response.
func (a *authBackend) spy(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/token" {
			h.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("grant_type") == "refresh_token" {
			a.refresh.Add(1)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &tok) == nil && tok.AccessToken != "" {
			a.mu.Lock()
			a.lastToken, a.issued = tok.AccessToken, time.Now()
			a.mu.Unlock()
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// relayEnv is the relay's environment: this backend, the static client
// "relay", a file vault key, the scripted browser.
func (a *authBackend) relayEnv() []string { return a.relayEnvAt(a.dataDir, a.keyFile) }

// relayEnvAt is relayEnv with another data directory and vault key file.
func (a *authBackend) relayEnvAt(dataDir, keyFile string) []string {
	return baseEnv(a.tmp,
		"RELAY_BACKEND_URL="+a.url, "RELAY_AUTH_SERVER_URL="+a.issuer, "RELAY_CLIENT_ID=relay",
		"RELAY_DATA_DIR="+dataDir, "RELAY_VAULT_KEY=file:"+keyFile,
		"BROWSER="+filepath.Join(a.bins, "fakebrowser"), "FAKEBROWSER_USER="+benchUser, "FAKEBROWSER_PASSWORD="+benchPassword)
}

// login signs the relay in once (`relay login` with the scripted browser)
// and returns the access token the authorization server issued, which the
// relay now holds in its vault.
func (a *authBackend) login(ctx context.Context) (string, error) {
	return a.loginWith(ctx, filepath.Join(a.bins, "relay"), a.dataDir, a.keyFile)
}

// loginWith is login with the relay binary bin, the data directory dataDir
// and a new vault key written to keyFile.
func (a *authBackend) loginWith(ctx context.Context, bin, dataDir, keyFile string) (string, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600); err != nil {
		return "", err
	}
	a.mu.Lock()
	a.lastToken = "" // this sign-in's token, not an earlier one
	a.mu.Unlock()
	cmd := exec.CommandContext(ctx, bin, "login")
	cmd.Env = a.relayEnvAt(dataDir, keyFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("relay login: %v\n%s", err, out)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lastToken == "" {
		return "", fmt.Errorf("relay login: no access token seen at the token endpoint")
	}
	return a.lastToken, nil
}

// lastIssued is when the last token was issued.
func (a *authBackend) lastIssued() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.issued
}

// startHS256 runs a second backend that validates HS256 tokens, for the
// throughput comparison with the cheapest signature.
func (c *chain) startHS256(ctx context.Context) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	c.hsURL = "http://" + addr
	c.hsSecret = []byte(randomString(32))
	c.hs, err = startDaemon(filepath.Join(c.bins, "backend"), nil, baseEnv(c.tmp,
		"BACKEND_ADDR="+addr, "AUTH_SERVER_URL="+hsIssuer, "JWT_SECRET="+string(c.hsSecret), "BACKEND_LOG_LEVEL=warn"))
	if err != nil {
		return err
	}
	if err := waitHealthy(ctx, c.hsURL+"/healthz"); err != nil {
		return fmt.Errorf("HS256 backend: %w\n%s", err, c.hs.stderr)
	}
	return nil
}

// hsIssuer is the issuer HS256 tokens name; nothing is served there.
const hsIssuer = "http://127.0.0.1:9"

// hsToken mints an HS256 access token the HS256 backend accepts.
func (c *chain) hsToken() (string, error) {
	now := time.Now()
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": hsIssuer, "aud": c.hsURL, "sub": benchUser, "client_id": "relay", "jti": randomString(9),
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	t.Header["typ"] = "at+jwt"
	return t.SignedString(c.hsSecret)
}
