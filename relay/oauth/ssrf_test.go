package oauth

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// localService is a service on this machine that a hostile server would
// like the relay to call: it counts the requests that reach it.
func localService(t *testing.T, ip string) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatalf("cannot listen on %s: %v", ip, err)
	}
	var hits atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) })}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), &hits
}

// P5: for a relay whose server is public, a URL the network names on
// loopback (an IP literal, or a name resolving to it) is refused before
// anything is sent; a local server's relay, an address the administrator
// allows, and public addresses are left alone.
func TestP5_PublicServerCannotReachLoopback(t *testing.T) {
	addr, hits := localService(t, "127.0.0.2")
	_, port, _ := net.SplitHostPort(addr)
	const publicServer = "https://203.0.113.7/mcp" // TEST-NET-3: public, and no lookup
	hc := PublicOnly(&http.Client{}, publicServer, nil)
	for _, u := range []string{"http://" + addr + "/admin/delete-everything?confirm=yes", "http://localhost:" + port + "/x",
		"http://[::ffff:127.0.0.2]:" + port + "/x"} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, u, strings.NewReader("{}"))
		if _, err := hc.Do(req); !errors.Is(err, ErrPrivateAddress) {
			t.Errorf("%s: %v, want ErrPrivateAddress", u, err)
		}
	}
	// The same fetch through the package's own client: discovery from a
	// hostile challenge's resource_metadata.
	if _, err := DiscoverResource(context.Background(), hc, publicServer, "http://"+addr+"/.well-known/oauth-protected-resource"); err == nil {
		t.Error("discovery reached a loopback resource_metadata URL")
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the local service got %d requests", n)
	}
	// A relay for a local server, and an allowed host, may.
	for name, c := range map[string]*http.Client{
		"local server": PublicOnly(&http.Client{}, "http://127.0.0.1:9/mcp", nil),
		"allowed host": PublicOnly(&http.Client{}, publicServer, func(u *url.URL) bool { return u.Hostname() == "127.0.0.2" }),
	} {
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
	}
	if n := hits.Load(); n != 2 {
		t.Fatalf("the local service got %d requests, want 2", n)
	}
}

func TestP5_PublicAddresses(t *testing.T) {
	for a, want := range map[string]bool{
		"8.8.8.8": true, "203.0.113.7": true, "2001:4860:4860::8888": true,
		"127.0.0.1": false, "127.9.9.9": false, "::1": false, "10.0.0.1": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "100.64.0.1": false, "0.0.0.0": false, "0.1.2.3": false, "::": false, "fe80::1": false,
		"fc00::1": false, "224.0.0.1": false, "::ffff:10.0.0.1": false, "::ffff:127.0.0.1": false,
	} {
		if got := public(netip.MustParseAddr(a)); got != want {
			t.Errorf("public(%s) = %v, want %v", a, got, want)
		}
	}
}
