package oauth

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// endless answers with contentType and a first chunk, then holds the body
// open until the client goes away: an event stream that never ends.
func endless(contentType, first string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(first))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}
}

// within runs f and fails the test if it has not returned within d.
func within(t *testing.T, d time.Duration, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s: still waiting after %v", what, d)
		return nil
	}
}

// sse-retry (issue 16): a server answering every GET with an event stream
// that never ends held discovery for RELAY_AUTH_TIMEOUT. A type that is
// not JSON is refused on the headers, whatever the client's timeout.
func TestMetadataNotJSONRefusedAtOnce(t *testing.T) {
	for _, k := range metadataKinds {
		t.Run(k.name, func(t *testing.T) {
			m := newMDServer(t)
			m.docs[k.wellKnown] = endless("text/event-stream", "id: 1\nretry: 500\ndata: \n\n")
			err := within(t, 5*time.Second, "discovery on an endless event stream", func() error { return k.discover(m.srv.URL) })
			testkit.WantIs(t, err, ErrBadMetadata, "an event stream")
			if !errors.Is(err, errNotJSON) || !has(err.Error(), `"text/event-stream"`) {
				t.Fatalf("the error does not say the answer is an event stream: %v", err)
			}
		})
	}
}

// A JSON answer whose body never ends is bounded by metadataTimeout, not
// by the HTTP client's timeout (none here).
func TestMetadataFetchHasItsOwnTimeout(t *testing.T) {
	defer func(d time.Duration) { metadataTimeout = d }(metadataTimeout)
	metadataTimeout = 200 * time.Millisecond
	for _, k := range metadataKinds {
		t.Run(k.name, func(t *testing.T) {
			m := newMDServer(t)
			m.docs[k.wellKnown] = endless("application/json", `{"issuer":`)
			err := within(t, 5*time.Second, "discovery on an endless JSON body", func() error { return k.discover(m.srv.URL) })
			if err == nil || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err %v, want the fetch's deadline", err)
			}
		})
	}
}

func TestJSONContentTypes(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json":                true,
		"application/json; charset=utf-8": true,
		"Application/JSON":                true,
		"application/jrd+json":            true,
		"text/plain; charset=utf-8":       true, // Go's net/http sniffs JSON as this
		"":                                true, // no type at all
		"text/event-stream":               false,
		"text/html; charset=utf-8":        false,
		"application/octet-stream":        false,
		"application/xml":                 false,
		"multipart/mixed; boundary=x":     false,
		"application/json;;;=":            false,
		"+json":                           false,
		"text/json+html":                  false,
	} {
		if got := jsonType(ct); got != want {
			t.Errorf("jsonType(%q) = %v", ct, got)
		}
	}
}

// The answers a served type gets, end to end, with a good document.
func TestMetadataContentTypeServed(t *testing.T) {
	for ct, ok := range map[string]bool{"application/json": true, "text/plain": true, "text/html": false, "application/octet-stream": false} {
		m := newMDServer(t)
		m.docs["/.well-known/oauth-authorization-server"] = func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", ct)
			_, _ = w.Write([]byte(`{"issuer":"` + m.srv.URL + `","authorization_endpoint":"` + m.srv.URL + `/a","token_endpoint":"` + m.srv.URL + `/t","code_challenge_methods_supported":["S256"]}`))
		}
		_, err := Discover(context.Background(), nil, m.srv.URL)
		if ok != (err == nil) || (!ok && !errors.Is(err, errNotJSON)) {
			t.Errorf("%s: %v", ct, err)
		}
	}
}

// ErrNotFound says that every URL answered 404, and only then: the server
// publishes no document, rather than failing to serve one.
func TestResourceMetadataNotPublished(t *testing.T) {
	const wk = "/.well-known/oauth-protected-resource"
	forbidden := func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", http.StatusForbidden) }
	for _, tc := range []struct {
		name     string
		docs     map[string]func(http.ResponseWriter, *http.Request)
		notFound bool
	}{
		{"every URL 404", nil, true},
		{"403 then 404", map[string]func(http.ResponseWriter, *http.Request){wk + "/mcp": forbidden}, false},
		{"404 then 403", map[string]func(http.ResponseWriter, *http.Request){wk: forbidden}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMDServer(t)
			for p, h := range tc.docs {
				m.docs[p] = h
			}
			_, err := DiscoverResource(context.Background(), nil, m.srv.URL+"/mcp", "")
			testkit.WantIs(t, err, ErrNoResourceMetadata, "no document")
			if errors.Is(err, ErrNotFound) != tc.notFound {
				t.Fatalf("errors.Is(ErrNotFound) = %v: %v", !tc.notFound, err)
			}
		})
	}
	t.Run("5xx", func(t *testing.T) {
		m := newMDServer(t)
		m.docs[wk+"/mcp"] = func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }
		_, err := DiscoverResource(context.Background(), nil, m.srv.URL+"/mcp", "")
		if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrNoResourceMetadata) {
			t.Fatalf("a 502 is a failure, not an absence: %v", err)
		}
	})
}
