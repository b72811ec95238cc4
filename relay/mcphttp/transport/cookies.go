package transport

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// cookieJar keeps the cookies the MCP server sets, in memory for the life
// of the process, and sends them back to it: load balancers (AWS ALB,
// Azure, ...) keep an MCP session on one node with such a cookie, as
// mcp-remote does. Only the MCP URL's origin (scheme, host and port) is
// served, whatever the cookie's Domain says, so nothing goes to another
// host; Secure cookies go over https only. At most maxCookies cookies of
// at most maxCookieSize bytes each are kept, so a server cannot grow the
// relay's memory with them. Cookies are never logged nor written down.
type cookieJar struct {
	origin *url.URL
	now    func() time.Time

	mu      sync.Mutex
	cookies map[string]*http.Cookie // by name
	order   []string                // names, oldest first
}

const (
	maxCookies    = 32
	maxCookieSize = 4096
)

// NewCookieJar keeps the cookies of origin's server.
func NewCookieJar(origin *url.URL) *cookieJar {
	return &cookieJar{origin: origin, now: time.Now, cookies: map[string]*http.Cookie{}}
}

func (j *cookieJar) sameOrigin(u *url.URL) bool {
	return u != nil && strings.EqualFold(u.Scheme, j.origin.Scheme) &&
		strings.EqualFold(u.Hostname(), j.origin.Hostname()) && port(u) == port(j.origin)
}

// SetCookies implements http.CookieJar.
func (j *cookieJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	if !j.sameOrigin(u) {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	now := j.now()
	for _, c := range cookies {
		if c.Name == "" || len(c.Name)+len(c.Value) > maxCookieSize {
			continue
		}
		if c.MaxAge < 0 || (!c.Expires.IsZero() && !c.Expires.After(now)) {
			j.remove(c.Name)
			continue
		}
		kept := &http.Cookie{Name: c.Name, Value: c.Value, Secure: c.Secure, Quoted: c.Quoted}
		if c.MaxAge > 0 {
			kept.Expires = now.Add(time.Duration(c.MaxAge) * time.Second)
		} else {
			kept.Expires = c.Expires
		}
		if _, ok := j.cookies[c.Name]; !ok {
			if len(j.order) >= maxCookies {
				j.remove(j.order[0])
			}
			j.order = append(j.order, c.Name)
		}
		j.cookies[c.Name] = kept
	}
}

// Cookies implements http.CookieJar.
func (j *cookieJar) Cookies(u *url.URL) []*http.Cookie {
	if !j.sameOrigin(u) {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	now := j.now()
	var out []*http.Cookie
	for _, name := range append([]string(nil), j.order...) {
		c := j.cookies[name]
		switch {
		case !c.Expires.IsZero() && !c.Expires.After(now):
			j.remove(name)
		case c.Secure && u.Scheme != "https":
		default:
			out = append(out, &http.Cookie{Name: c.Name, Value: c.Value, Quoted: c.Quoted})
		}
	}
	return out
}

// remove forgets the cookie name; j.mu is held.
func (j *cookieJar) remove(name string) {
	if _, ok := j.cookies[name]; !ok {
		return
	}
	delete(j.cookies, name)
	for i, n := range j.order {
		if n == name {
			j.order = append(j.order[:i], j.order[i+1:]...)
			break
		}
	}
}
