package bearer

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Challenge describes an RFC 6750 error response.
type Challenge struct {
	Status           int    // 401 or 403
	Error            string // invalid_token, insufficient_scope, invalid_request; "" for a bare challenge
	Description      string // safe, fixed text; never a token
	Scope            []string
	ResourceMetadata string // RFC 9728 URL of the protected resource metadata
	RetryAfter       int    // seconds; sent as Retry-After when > 0 (a 503)
	// DPoP, if set, adds a DPoP challenge (RFC 9449 §7.1), or sends it
	// alone (DPoP.Only), and says which of the two carries the error.
	DPoP *DPoPChallenge
}

// Write sends the challenge: a WWW-Authenticate: Bearer header (and a
// DPoP one, when set) and a JSON body {"error":..,"error_description":..}.
func (c Challenge) Write(w http.ResponseWriter) {
	h := w.Header()
	h.Del("WWW-Authenticate")
	d := c.DPoP
	if d == nil || !d.Only {
		h.Add("WWW-Authenticate", c.header("Bearer", d == nil || !d.Error, nil))
	}
	if d != nil {
		h.Add("WWW-Authenticate", c.header("DPoP", d.Error, d.Algs))
		if d.Nonce != "" {
			h.Set("DPoP-Nonce", d.Nonce)
		}
	}
	if c.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(c.RetryAfter))
	}
	code := c.Error
	if code == "" {
		code = "unauthorized"
	}
	WriteJSONError(w, c.Status, code, c.Description)
}

// header is one challenge of scheme; withError puts error,
// error_description and scope in it.
func (c Challenge) header(scheme string, withError bool, algs []string) string {
	var params []string
	if len(algs) > 0 {
		params = append(params, `algs="`+quote(strings.Join(algs, " "))+`"`)
	}
	if c.Error != "" && withError {
		params = append(params, `error="`+quote(c.Error)+`"`)
	}
	if c.Description != "" && withError {
		params = append(params, `error_description="`+quote(c.Description)+`"`)
	}
	if len(c.Scope) > 0 && withError {
		params = append(params, `scope="`+quote(strings.Join(c.Scope, " "))+`"`)
	}
	if c.ResourceMetadata != "" {
		params = append(params, `resource_metadata="`+quote(c.ResourceMetadata)+`"`)
	}
	if len(params) > 0 {
		scheme += " " + strings.Join(params, ", ")
	}
	return scheme
}

// WriteJSONError writes {"error":code,"error_description":desc} with status.
func WriteJSONError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	body := map[string]string{"error": code}
	if desc != "" {
		body["error_description"] = desc
	}
	_ = json.NewEncoder(w).Encode(body)
}

// quote keeps a header parameter inside its quotes: RFC 6750 allows only
// %x20-21 / %x23-5B / %x5D-7E there.
func quote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			b.WriteByte(c)
		}
	}
	return b.String()
}
