package browsertest

import (
	"context"
	"errors"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

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
	data := struct{ Title, Text, Class, Outcome string }{
		"Signed in", "keyrelay received the sign-in. You can close this tab and return to your application.", "ok", "allowed",
	}
	if q.Has("error") {
		data = struct{ Title, Text, Class, Outcome string }{
			"Sign-in not completed", "The sign-in was refused or cancelled. You can close this tab.", "no", "refused",
		}
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
