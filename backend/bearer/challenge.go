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
}

// Write sends the challenge: a WWW-Authenticate: Bearer header and a JSON
// body {"error":..,"error_description":..}.
func (c Challenge) Write(w http.ResponseWriter) {
	var params []string
	if c.Error != "" {
		params = append(params, `error="`+quote(c.Error)+`"`)
	}
	if c.Description != "" {
		params = append(params, `error_description="`+quote(c.Description)+`"`)
	}
	if len(c.Scope) > 0 {
		params = append(params, `scope="`+quote(strings.Join(c.Scope, " "))+`"`)
	}
	if c.ResourceMetadata != "" {
		params = append(params, `resource_metadata="`+quote(c.ResourceMetadata)+`"`)
	}
	v := "Bearer"
	if len(params) > 0 {
		v += " " + strings.Join(params, ", ")
	}
	w.Header().Set("WWW-Authenticate", v)
	if c.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(c.RetryAfter))
	}
	code := c.Error
	if code == "" {
		code = "unauthorized"
	}
	WriteJSONError(w, c.Status, code, c.Description)
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
