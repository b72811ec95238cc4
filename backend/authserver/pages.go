package authserver

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
)

//go:embed templates/*.html
var templateFS embed.FS

// pageCSP allows only inline styles. It has no form-action directive on
// purpose: Chromium applies form-action to the redirect that follows a form
// POST, which would block the 303 to a loopback callback.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"

// pages holds one template per page, each wrapped in the layout.
type pages struct {
	t map[string]*template.Template
}

func newPages() (*pages, error) {
	base, err := template.ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("authserver: templates: %w", err)
	}
	p := &pages{t: map[string]*template.Template{}}
	for _, name := range []string{"login", "consent", "device", "message"} {
		c := template.Must(base.Clone())
		if p.t[name], err = c.ParseFS(templateFS, "templates/"+name+".html"); err != nil {
			return nil, fmt.Errorf("authserver: templates: %w", err)
		}
	}
	return p, nil
}

// pageHeaders are sent with every HTML page and every redirect from one.
func pageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

// render writes a page. data must have a Title field.
func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := s.pages.t[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.Error("authserver: render page", "page", name, "err", err)
		status, buf = http.StatusInternalServerError, *bytes.NewBufferString("internal error")
	}
	pageHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type messagePage struct{ Title, Text string }

// message renders a page of fixed text. Callers pass constants only.
func (s *Server) message(w http.ResponseWriter, status int, title, text string) {
	s.render(w, status, "message", messagePage{Title: title, Text: text})
}

// Fixed texts for error pages.
const (
	textBadRequest = "This sign-in request is not valid: the application or its redirect address is not registered here. Nothing was sent back to the application."
	textExpired    = "This sign-in request has expired, was already used, or was started in another browser. Start again from the application."
)
