package browsertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyrelay/keyrelay/backend/authserver"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// testTimeout bounds each browser test as a whole.
const testTimeout = 60 * time.Second

// chromiumPath finds a Chromium or Chrome binary. Without one the test is
// skipped, except under CI=true, where a missing browser is a failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testkit.SkipOrFail(t, "no Chromium found on PATH (chromium, chromium-browser, google-chrome); install the Debian package chromium")
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile and returns a
// chromedp context for its first tab, bounded by ctx. When the test ends it
// closes the browser and checks that no process of it is left.
func newBrowser(ctx context.Context, t *testing.T) context.Context {
	t.Helper()
	exe := chromiumPath(t)
	// Everything the browser writes goes under root: the profile, and through
	// XDG_CONFIG_HOME and XDG_CACHE_HOME the crashpad database, which would
	// otherwise land in ~/.config/chromium. Every browser process, crashpad
	// handlers included, names a path under root on its command line, which
	// is how the leftover check finds them.
	root := t.TempDir()
	profile := filepath.Join(root, "profile")
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe),
		chromedp.Env("XDG_CONFIG_HOME="+filepath.Join(root, "config"), "XDG_CACHE_HOME="+filepath.Join(root, "cache")),
		chromedp.Headless,
		chromedp.NoSandbox, // tests may run as root, where the sandbox cannot start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(900, 720),
		// Keep the browser off the network except for the pages under test;
		// without these it stalls on a machine with no internet access.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
	)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		// Close gracefully, then make sure the process tree is gone. root (a
		// t.TempDir registered earlier) is removed after this cleanup, so no
		// browser process writes into it afterwards.
		cctx, ccancel := context.WithTimeout(bctx, 10*time.Second)
		_ = chromedp.Cancel(cctx)
		ccancel()
		bcancel()
		acancel()
		// Chromium passes --user-data-dir to every child, and its crashpad
		// handlers get --database under XDG_CONFIG_HOME.
		under := []byte(root + string(filepath.Separator))
		if left := waitGone(func(cmdline []byte) bool { return bytes.Contains(cmdline, under) }, 5*time.Second); len(left) > 0 {
			t.Errorf("chromium processes left after the test: %v (killed)", left)
		}
	})
	// Start the browser now, so a start-up failure is reported as such.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium (%s): %v", exe, err)
	}
	return bctx
}

// waitGone waits until no process's command line satisfies match, and
// returns, after killing them, the pids still there at the deadline.
func waitGone(match func(cmdline []byte) bool, limit time.Duration) []int {
	var pids []int
	if testkit.Eventually(limit, func() bool {
		pids = testkit.Procs(func(dir string) bool {
			cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
			return err == nil && match(cmdline)
		})
		return len(pids) == 0
	}) {
		return nil
	}
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	return pids
}

// screenshotDir is $KEYRELAY_SCREENSHOT_DIR, or a temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("KEYRELAY_SCREENSHOT_DIR"); d != "" {
		testkit.NoErr(t, os.MkdirAll(d, 0o755))
		return d
	}
	return t.TempDir()
}

// screenshot saves a full-page PNG of the current page as dir/name.
func screenshot(ctx context.Context, t *testing.T, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot %s is not a PNG", name)
	}
	p := filepath.Join(dir, name)
	testkit.NoErr(t, os.WriteFile(p, png, 0o644))
	t.Logf("screenshot: %s (%d bytes)", p, len(png))
}

// catcher is a loopback HTTP server that stands where the relay's callback
// listener will be: it records the first GET /callback and answers with a
// small page that reflects no query value. It also serves /frame, a page
// that embeds other pages in iframes, for the anti-framing test.
type catcher struct {
	URL         string // http://127.0.0.1:PORT
	RedirectURI string // URL + "/callback"

	got  chan url.Values // the first callback's query
	once sync.Once

	mu     sync.Mutex
	frames []frameSpec
}

type frameSpec struct{ ID, Src string }

const successHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>keyrelay: {{.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f5f6f8;color:#1d2330;margin:0;padding:48px 16px}
main{max-width:420px;margin:0 auto;background:#fff;border:1px solid #dde1e8;border-radius:10px;padding:28px 32px;box-shadow:0 1px 3px rgba(0,0,0,.06)}
h1{font-size:1.35rem;margin:0 0 12px}
p{line-height:1.5;margin:0 0 8px}
.ok{color:#1a7f37}.no{color:#b42318}
</style></head>
<body><main id="result" data-outcome="{{.Outcome}}">
<h1 class="{{.Class}}">{{.Title}}</h1>
<p>{{.Text}}</p>
</main></body></html>
`

var successPage = template.Must(template.New("success").Parse(successHTML))

const frameHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>framing test</title></head>
<body>{{range .}}<iframe id="{{.ID}}" src="{{.Src}}" width="600" height="300"></iframe>{{end}}</body></html>
`

var framePage = template.Must(template.New("frame").Parse(frameHTML))

// startCatcher starts the catcher on 127.0.0.1:0 and stops it at the end
// of the test.
func startCatcher(t *testing.T) *catcher {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	testkit.NoErr(t, err)
	c := &catcher{URL: "http://" + l.Addr().String(), got: make(chan url.Values, 1)}
	c.RedirectURI = c.URL + "/callback"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", c.handleCallback)
	mux.HandleFunc("GET /frame", c.handleFrame)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 16 << 10}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("catcher: %v", err)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
	})
	return c
}

func (c *catcher) handleCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c.once.Do(func() { c.got <- q })
	type page struct{ Title, Text, Class, Outcome string }
	data := page{"Signed in", "keyrelay received the sign-in. You can close this tab and return to your application.", "ok", "allowed"}
	if q.Has("error") {
		data = page{"Sign-in not completed", "The sign-in was refused or cancelled. You can close this tab.", "no", "refused"}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	_ = successPage.Execute(w, data)
}

func (c *catcher) handleFrame(w http.ResponseWriter, _ *http.Request) {
	c.mu.Lock()
	frames := append([]frameSpec(nil), c.frames...)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = framePage.Execute(w, frames)
}

// setFrames sets the iframes that /frame embeds.
func (c *catcher) setFrames(f ...frameSpec) {
	c.mu.Lock()
	c.frames = f
	c.mu.Unlock()
}

// wait returns the first callback's query, or fails when ctx ends.
func (c *catcher) wait(ctx context.Context, t *testing.T) url.Values {
	t.Helper()
	select {
	case q := <-c.got:
		return q
	case <-ctx.Done():
		t.Fatalf("no callback reached the catcher: %v", ctx.Err())
		return nil
	}
}

// TestMain removes the binaries the tests built.
func TestMain(m *testing.M) { testkit.Main(m) }

// backend is a running backend with its built-in authorization server.
type backend struct {
	URL            string // http://127.0.0.1:PORT, the issuer and the resource
	User, Password string
}

// startBackend runs the backend binary with its authorization server and
// one user, alice, with a random password, on a free loopback port. It
// waits for /healthz and stops the process (SIGTERM, then wait) when the
// test ends.
func startBackend(t *testing.T) *backend {
	t.Helper()
	b := &backend{User: "alice", Password: rand.Text()}
	// Nothing of the test's own environment, so an outer JWT_SECRET or
	// AUTH_SERVER_URL cannot change the mode. The user goes in AUTH_USERS
	// rather than --user, so the password is not in argv.
	b.URL = testkit.StartBackend(t, "BACKEND_AUTH_SERVER=1", "AUTH_USERS="+b.User+":"+b.Password)
	return b
}

// metadata fetches the RFC 8414 metadata, decoded into the authorization
// server's own type, and checks its issuer and PKCE method.
func (b *backend) metadata(ctx context.Context, t *testing.T) *authserver.Metadata {
	t.Helper()
	var md authserver.Metadata
	testkit.NoErr(t, getJSON(ctx, b.URL+"/.well-known/oauth-authorization-server", &md), "metadata")
	if md.Issuer != b.URL {
		t.Fatalf("metadata issuer = %q, want %q", md.Issuer, b.URL)
	}
	if !slices.Contains(md.CodeChallengeMethodsSupported, "S256") {
		t.Fatalf("metadata code_challenge_methods_supported = %v, want S256", md.CodeChallengeMethodsSupported)
	}
	return &md
}

func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

// callTool calls POST /mcp/tools/{name} with no arguments and the bearer
// token, and returns the status and the decoded CallToolResult.
func (b *backend) callTool(t *testing.T, name, token string) (int, *toolResult, error) {
	t.Helper()
	resp, body := testkit.PostTool(t, b.URL, name, "{}", token)
	var res toolResult
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		return resp.StatusCode, nil, errors.New("tool answer is not JSON")
	}
	return resp.StatusCode, &res, nil
}

type toolResult struct {
	Content []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
	IsError bool `json:"isError"`
}
