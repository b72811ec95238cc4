// Package chain runs keyrelay's built-in authorization server and the
// example backend on one loopback listener, for tests: the issuer and the
// backend share its URL. It is instrumented: it counts the token requests
// that reach the authorization server by grant, remembers by kind every
// code, verifier, token and client secret that crossed the token and
// revocation endpoints (so tests can search what the relay wrote for
// them), lets a test answer those requests itself, and can revoke the
// tokens its validators have accepted. It can be taken down and brought
// back on the same address.
//
// It is test support only, like the rest of testkit.
package chain

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/backend/authserver"
	"github.com/keyrelay/keyrelay/backend/example"
	"github.com/keyrelay/keyrelay/backend/tool"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// The one user of the authorization server.
const (
	User     = "alice"
	Password = "alice-test-password"
)

// Options configure a chain. The zero value is the authorization server
// with its default clients and token lifetime, and the example backend at
// the chain's URL (its tools under /mcp/tools/).
type Options struct {
	TokenTTL time.Duration       // 0: the authorization server's default
	Clients  []authserver.Client // nil: the authorization server's defaults
	// Resources are the paths under the URL that tokens may be issued for;
	// none: the URL itself, the example backend's.
	Resources []string
	// Handle adds handlers to the chain's mux (other resource servers),
	// before it starts serving; s.URL is set.
	Handle func(s *Server, mux *http.ServeMux)
	// Wrap wraps the whole handler: a fault injector in front of both
	// servers. The counters and the secret spy sit behind it, at the
	// authorization server.
	Wrap func(http.Handler) http.Handler
	// Token, if set, sees each request to the token and revocation
	// endpoints, its form parsed, once its secrets are recorded: it may
	// change the form the authorization server gets, or answer itself and
	// return true (the request then does not reach the server, nor the
	// counters).
	Token       func(w http.ResponseWriter, r *http.Request, form url.Values) bool
	ConnContext func(ctx context.Context, c net.Conn) context.Context
	// DPoP turns DPoP (RFC 9449) on at the authorization server: it
	// advertises it and binds the tokens of a request with a proof.
	DPoP bool
}

// Server is a running chain.
type Server struct {
	URL string // http://127.0.0.1:PORT: the issuer and the backend
	AS  *authserver.Server
	// Codes and Refreshes count the authorization_code and refresh_token
	// requests that reached the authorization server.
	Codes, Refreshes atomic.Int64

	opts    Options
	addr    string
	handler http.Handler

	mu      sync.Mutex
	srv     *http.Server
	secrets map[string][]string // by kind
	seen    map[string]bool     // jti accepted by a validator so far
	revoked map[string]bool     // jti the validators now refuse
}

// Start starts a chain on a free loopback port and stops it when the
// test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{URL: "http://" + ln.Addr().String(), addr: ln.Addr().String(), opts: opts,
		secrets: map[string][]string{}, seen: map[string]bool{}, revoked: map[string]bool{}}
	resources := []string{s.URL}
	if len(opts.Resources) > 0 {
		resources = nil
		for _, p := range opts.Resources {
			resources = append(resources, s.URL+p)
		}
	}
	s.AS, err = authserver.New(authserver.Config{Issuer: s.URL, Resources: resources, Users: []authserver.User{user(t)},
		TokenTTL: opts.TokenTTL, Clients: opts.Clients, DPoP: opts.DPoP,
		Scopes: []string{example.ScopeNotesRead, example.ScopeNotesWrite, example.ScopeAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	if err := s.mountBackend(t, mux); err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", s.spy(s.AS.Handler()))
	if opts.Handle != nil {
		opts.Handle(s, mux)
	}
	s.handler = mux
	if opts.Wrap != nil {
		s.handler = opts.Wrap(mux)
	}
	s.serve(ln)
	t.Cleanup(s.Down)
	return s
}

// mountBackend puts the example backend (with an in-memory store) at the
// chain's URL.
func (s *Server) mountBackend(t testing.TB, mux *http.ServeMux) error {
	ts := tool.NewServer(tool.Config{PublicURL: s.URL, AuthServers: []string{s.URL}, Validator: s.Validator(t, s.URL)})
	if err := example.Register(ts, example.NewMemoryStore(), nil); err != nil {
		return err
	}
	mux.Handle("/mcp/", ts.Handler())
	mux.Handle("/.well-known/oauth-protected-resource", ts.Handler())
	return nil
}

var users struct {
	once sync.Once
	u    authserver.User
	err  error
}

// user hashes the password once per process: bcrypt is slow under -race.
func user(t testing.TB) authserver.User {
	users.once.Do(func() { users.u, users.err = authserver.NewUser(User, Password) })
	if users.err != nil {
		t.Fatal(users.err)
	}
	return users.u
}

func (s *Server) serve(ln net.Listener) {
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, ConnContext: s.opts.ConnContext}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// Down closes the listener and every connection: connections are refused
// until Up.
func (s *Server) Down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		_ = s.srv.Close()
		s.srv = nil
	}
}

// Up listens again on the same address.
func (s *Server) Up(t testing.TB) {
	t.Helper()
	var ln net.Listener
	var err error
	ok := testkit.Eventually(5*time.Second, func() bool {
		ln, err = net.Listen("tcp", s.addr)
		return err == nil
	})
	if !ok {
		t.Fatalf("listen again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}
