package oauth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
)

// The callback's defaults: the redirect URI is http://127.0.0.1:PORT/callback.
const (
	DefaultCallbackHost = "127.0.0.1"
	// LocalhostCallbackHost is the only other host a Callback may name.
	LocalhostCallbackHost = "localhost"
	DefaultCallbackPath   = "/callback"
	maxCallbackPath       = 256
	listenAttempts        = 5 // random ports tried when [::1] has the port taken
)

// Callback says where the loopback callback server listens and what the
// redirect URI names: http://HOST:PORT/PATH. The zero Callback is
// http://127.0.0.1:RANDOM/callback.
type Callback struct {
	// Port is the port to bind; 0 picks a free one.
	Port int
	// Host is the redirect URI's host: "127.0.0.1" (the default, also for
	// "") or "localhost", for a client registered ahead of time with a
	// localhost redirect URI. Nothing else: the server binds the loopback
	// IP literals 127.0.0.1 and, for localhost, [::1], never whatever a
	// resolver says localhost is.
	Host string
	// Path is the one path the server answers on; "" is "/callback". See
	// CheckCallbackPath for what it may hold.
	Path string
}

func (cb Callback) host() string { return cmp.Or(cb.Host, DefaultCallbackHost) }
func (cb Callback) path() string { return cmp.Or(cb.Path, DefaultCallbackPath) }

// RedirectURI is http://HOST:PORT/PATH, or http://HOST/PATH when Port is 0:
// the form to register, since RFC 8252 §7.3 has a server accept a loopback
// IP redirect on any port (servers tend to match a localhost one exactly,
// port included).
func (cb Callback) RedirectURI() string {
	h := cb.host()
	if cb.Port != 0 {
		h = net.JoinHostPort(h, strconv.Itoa(cb.Port))
	}
	return "http://" + h + cb.path()
}

// check validates cb; errors wrap ErrConfig.
func (cb Callback) check() error {
	if cb.Port < 0 || cb.Port > 65535 {
		return fmt.Errorf("%w: callback port %d out of range", ErrConfig, cb.Port)
	}
	if err := CheckCallbackHost(cb.host()); err != nil {
		return fmt.Errorf("%w: callback host: %w", ErrConfig, err)
	}
	if err := CheckCallbackPath(cb.path()); err != nil {
		return fmt.Errorf("%w: callback path: %w", ErrConfig, err)
	}
	return nil
}

// CheckCallbackHost accepts "127.0.0.1" and "localhost" only: the callback
// stays on loopback. The error says what is wanted, without the value.
func CheckCallbackHost(h string) error {
	if h == DefaultCallbackHost || h == LocalhostCallbackHost {
		return nil
	}
	return errors.New("want 127.0.0.1 or localhost")
}

// CheckCallbackPath accepts an absolute path of at most 256 bytes made of
// RFC 3986 path characters (unreserved, sub-delims, ":", "@" and "/")
// without percent-encoding, "//", or "." and ".." segments, so that the
// path the browser sends is byte for byte the one the redirect URI names.
// The error gives a position, never the value.
func CheckCallbackPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return errors.New("must start with /")
	case len(p) > maxCallbackPath:
		return fmt.Errorf("longer than %d bytes", maxCallbackPath)
	case strings.Contains(p, "//"):
		return errors.New("must not contain //")
	}
	for i := range len(p) {
		if !pathChar(p[i]) {
			return fmt.Errorf("byte %d is not allowed: use letters, digits and -._~!$&'()*+,;=:@/ only (no ?, #, %% or space)", i+1)
		}
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if seg == "." || seg == ".." {
			return errors.New("must not contain . or .. segments")
		}
	}
	return nil
}

// pathChar: RFC 3986 pchar or "/", without pct-encoded.
func pathChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0
}

// listen binds loopback IP literals only, never a wildcard address and
// never a name (C11): 127.0.0.1 at cb.Port, and for localhost also [::1]
// at the same port, since a browser may try ::1 first. Without IPv6
// loopback on this machine, 127.0.0.1 alone serves (a browser cannot reach
// ::1 either). If ::1 exists but its port is taken, another process could
// receive the redirect: a random port is tried again, a fixed one fails.
func (cb Callback) listen(ctx context.Context, log *slog.Logger) ([]net.Listener, error) {
	for attempt := 1; ; attempt++ {
		ln4, err := listenTCP(ctx, "tcp4", "127.0.0.1", cb.Port)
		if err != nil {
			return nil, fmt.Errorf("oauth: listen for the login callback: %w", err)
		}
		if cb.host() != LocalhostCallbackHost {
			return []net.Listener{ln4}, nil
		}
		port := ln4.Addr().(*net.TCPAddr).Port
		ln6, err := listenTCP(ctx, "tcp6", "::1", port)
		if err == nil {
			return []net.Listener{ln4, ln6}, nil
		}
		if !hasIPv6Loopback(ctx) {
			log.Debug("oauth: no IPv6 loopback; the localhost callback listens on 127.0.0.1 only")
			return []net.Listener{ln4}, nil
		}
		_ = ln4.Close()
		if cb.Port != 0 || attempt == listenAttempts {
			return nil, fmt.Errorf("oauth: listen for the login callback on [::1]:%d: %w", port, err)
		}
	}
}

// listenTCP binds ip:port. It is a variable so a test can make a bind fail.
var listenTCP = func(ctx context.Context, network, ip string, port int) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(ctx, network, net.JoinHostPort(ip, strconv.Itoa(port)))
}

// hasIPv6Loopback reports whether [::1] can be bound at all.
func hasIPv6Loopback(ctx context.Context) bool {
	ln, err := listenTCP(ctx, "tcp6", "::1", 0)
	if err != nil {
		return false
	}
	_ = ln.Close()
	return true
}
