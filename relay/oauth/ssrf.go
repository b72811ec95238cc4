package oauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"syscall"
)

// ErrPrivateAddress refuses a connection to a loopback, link-local,
// private or otherwise non-public address that a public server's network
// named (P5).
var ErrPrivateAddress = errors.New("oauth: refusing to connect to a non-public address that the network named")

// PublicOnly returns a copy of hc that, when server (the MCP server or the
// backend the relay was configured with) is a public host, refuses to
// connect to a loopback, link-local, private, shared (CGNAT), multicast or
// unspecified address: a URL learned from the network (a challenge's
// resource_metadata, an authorization server's endpoints) cannot make the
// relay send requests to the machine's own services or the LAN's (a blind
// SSRF, P5). The check is on the address dialled, after name resolution,
// so a name resolving to 127.0.0.1 is refused too. It does not apply when
// server itself is on such an address (a local or internal set-up), nor to
// URLs allow accepts (the hosts the administrator names in allowed_auth_server_hosts), nor
// behind an HTTP proxy, which then resolves and connects (an IP literal
// in the URL is still checked).
//
// Whether server is public is found on first use, with one lookup of its
// host; a server that cannot be resolved counts as public.
func PublicOnly(hc *http.Client, server string, allow func(u *url.URL) bool) *http.Client {
	base, _ := hc.Transport.(*http.Transport)
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}
	guarded := base.Clone()
	d := &net.Dialer{Control: func(_, address string, _ syscall.RawConn) error { return checkDialled(address) }}
	guarded.DialContext = d.DialContext
	c := *hc
	c.Transport = &publicOnly{plain: base, guarded: guarded, server: server, allow: allow}
	return &c
}

type publicOnly struct {
	plain, guarded *http.Transport
	server         string
	allow          func(u *url.URL) bool

	once  sync.Once
	local bool // server is on a non-public address: no restriction
}

func (p *publicOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	p.once.Do(func() { p.local = isLocalServer(req.Context(), p.server) })
	host := req.URL.Hostname()
	switch {
	case p.local || (p.allow != nil && p.allow(req.URL)):
		return p.plain.RoundTrip(req)
	case isNonPublicLiteral(host):
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("%w: %s", ErrPrivateAddress, sanitize(host, 64))
	}
	if p.plain.Proxy != nil {
		if proxy, err := p.plain.Proxy(req); err == nil && proxy != nil {
			return p.plain.RoundTrip(req) // the proxy resolves and connects
		}
	}
	return p.guarded.RoundTrip(req)
}

// isLocalServer reports whether the configured server's host is on a
// non-public address (or is localhost).
func isLocalServer(ctx context.Context, server string) bool {
	host := hostOf(server)
	switch {
	case host == "":
		return false
	case isLoopbackHost(host) || isNonPublicLiteral(host):
		return true
	case net.ParseIP(host) != nil:
		return false
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if !public(a) {
			return true
		}
	}
	return false
}

func hostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// isNonPublicLiteral reports whether host is an IP literal of a
// non-public address.
func isNonPublicLiteral(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && !public(a)
}

func checkDialled(address string) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !public(a) {
		return fmt.Errorf("%w: %s", ErrPrivateAddress, sanitize(host, 64))
	}
	return nil
}

// cgnat is the shared address space of RFC 6598.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// public reports whether a is a public unicast address.
func public(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && a.IsGlobalUnicast() && !a.IsPrivate() && !a.IsLoopback() && !a.IsLinkLocalUnicast() &&
		!cgnat.Contains(a) && !a.IsUnspecified() && !a.IsMulticast() && !(a.Is4() && a.As4()[0] == 0)
}
