package tool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
)

type ridKey struct{}

// WithRequestID gives each request a fresh random id, in its context and in
// the X-Request-Id response header. A client's own X-Request-Id is ignored,
// so logs cannot be forged through it.
func WithRequestID(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if RequestID(r.Context()) != "" {
			h.ServeHTTP(w, r)
			return
		}
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", id)
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ridKey{}, id)))
	})
}

// RequestID returns the request's id, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ridKey{}).(string)
	return id
}
