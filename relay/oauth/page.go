package oauth

import "net/http"

// The pages the browser shows. They are constants: no query value, error
// code or description ever reaches them (C5, C13).
const (
	pageSuccess  = pageHead + `<h1>Signed in</h1><p>keyrelay received your login. You can close this tab and return to your application.</p>` + pageTail
	pageFailure  = pageHead + `<h1>Sign-in failed</h1><p>keyrelay could not complete the login. Return to your application for details.</p>` + pageTail
	pageReceived = pageHead + `<h1>Response received</h1><p>You can close this tab and return to your application.</p>` + pageTail
	pageRefused  = pageHead + `<h1>Request not accepted</h1><p>This address only accepts the redirect of a keyrelay login in progress.</p>` + pageTail

	pageHead = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>keyrelay</title></head><body>`
	pageTail = `</body></html>`
)

// pageCSP allows nothing: the pages have no script, style, image or form.
const pageCSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// writePage writes one of the static pages with headers that keep it out of
// caches, send no Referer onward and forbid framing (C13).
func writePage(w http.ResponseWriter, status int, page string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(page))
}
