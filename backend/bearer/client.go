package bearer

import (
	"errors"
	"io"
	"net/http"
	"time"
)

// ErrTooLarge is returned when a fetched document exceeds its size cap.
var ErrTooLarge = errors.New("bearer: response too large")

// CappedClient returns an HTTP client for fetching keys and metadata: it has
// a timeout, refuses redirects to another host, and fails a response body
// longer than maxBytes.
func CappedClient(timeout time.Duration, maxBytes int64) *http.Client {
	return &http.Client{
		Timeout:   timeout,
		Transport: &capTransport{base: http.DefaultTransport, max: maxBytes},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 || req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
				return errors.New("bearer: redirect refused")
			}
			return nil
		},
	}
}

type capTransport struct {
	base http.RoundTripper
	max  int64
}

func (t *capTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, ErrTooLarge
	}
	resp.Body = &capReader{rc: resp.Body, left: t.max}
	return resp, nil
}

type capReader struct {
	rc   io.ReadCloser
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// Probe for one more byte: exactly max bytes is fine.
		var one [1]byte
		if n, _ := c.rc.Read(one[:]); n > 0 {
			return 0, ErrTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *capReader) Close() error { return c.rc.Close() }
