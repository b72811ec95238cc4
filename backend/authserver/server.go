package authserver

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/keyrelay/keyrelay/internal/dpop"
)

// Server is the authorization server. It is safe for concurrent use.
type Server struct {
	cfg            Config
	path           string // issuer path, "" or "/x"
	secureCookies  bool
	log            *slog.Logger
	now            func() time.Time
	store          *store
	users          map[string]User
	dummy          []byte
	signer         *signer
	limiter        *limiter   // failures per source address: logins, user codes
	brake          *userBrake // login failures per user
	pages          *pages
	mux            *http.ServeMux
	deviceInterval time.Duration
	jtis           jtiCache       // client assertions seen (machine.go)
	idpKeys        idpKeys        // trusted identity providers' fetched keys (idpkeys.go)
	issued         issued         // access tokens, for /introspect (introspect.go)
	dpop           *dpop.Verifier // nil: DPoP off (dpop.go)
}

// New checks cfg, applies defaults and builds a Server. With HMACSecret empty
// and no SigningKey it generates an ES256 key.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.Issuer) // checked by normalize
	s := &Server{
		cfg: cfg, path: u.EscapedPath(), secureCookies: u.Scheme == "https",
		log: cfg.Logger, now: cfg.Now, store: newStore(cfg.Clients),
		users: map[string]User{}, limiter: newLimiter(cfg.Now, addrFails, addrWindow), brake: newUserBrake(cfg.Now),
		deviceInterval: 5 * time.Second, dpop: newDPoPVerifier(cfg),
	}
	for _, usr := range cfg.Users {
		if usr.Name == "" || len(usr.hash) == 0 || s.users[usr.Name].Name != "" {
			return nil, fmt.Errorf("%w: users must come from NewUser or ParseUsers and be unique", ErrConfig)
		}
		s.users[usr.Name] = usr
	}
	if s.dummy, err = dummyHash(); err != nil {
		return nil, fmt.Errorf("authserver: dummy hash: %w", err)
	}
	if s.signer, err = newSigner(cfg); err != nil {
		return nil, err
	}
	if s.pages, err = newPages(); err != nil {
		return nil, err
	}
	s.mux = s.routes()
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) && u.Hostname() != "localhost" {
		s.log.Warn("authserver: issuer is plain http on a non-loopback host", "issuer", cfg.Issuer)
	}
	return s, nil
}

// Handler returns the handler for every route (see Routes). Other paths get
// 404.
func (s *Server) Handler() http.Handler { return s.mux }

// Routes lists the paths Handler serves, so a caller can mount them one by
// one on a shared mux: for _, p := range s.Routes() { mux.Handle(p, s.Handler()) }.
func (s *Server) Routes() []string {
	p := s.path
	r := []string{
		p + "/.well-known/oauth-authorization-server",
		p + "/.well-known/openid-configuration",
		p + "/authorize", p + "/login", p + "/consent", p + "/token", p + "/revoke",
		p + "/register", p + "/device_authorization", p + "/device", p + "/jwks.json",
		p + "/introspect",
	}
	if p != "" {
		r = append(r, "/.well-known/oauth-authorization-server"+p) // RFC 8414 §3.1
	}
	return r
}

func (s *Server) routes() *http.ServeMux {
	m := http.NewServeMux()
	p := s.path
	for _, r := range s.Routes() {
		if strings.Contains(r, "/.well-known/") {
			m.HandleFunc("GET "+r, s.handleMetadata)
		}
	}
	m.HandleFunc("GET "+p+"/jwks.json", s.handleJWKS)
	m.HandleFunc("GET "+p+"/authorize", s.handleAuthorize)
	m.HandleFunc("GET "+p+"/login", s.handleLoginPage)
	m.HandleFunc("POST "+p+"/login", s.handleLogin)
	m.HandleFunc("GET "+p+"/consent", s.handleConsentPage)
	m.HandleFunc("POST "+p+"/consent", s.handleConsent)
	m.HandleFunc("POST "+p+"/token", s.handleToken)
	m.HandleFunc("POST "+p+"/revoke", s.handleRevoke)
	m.HandleFunc("POST "+p+"/introspect", s.handleIntrospect)
	m.HandleFunc("POST "+p+"/register", s.handleRegister)
	m.HandleFunc("POST "+p+"/device_authorization", s.handleDeviceAuthorization)
	m.HandleFunc("GET "+p+"/device", s.handleDevicePage)
	m.HandleFunc("POST "+p+"/device", s.handleDevice)
	return m
}

// remoteIP is the peer address. Forwarding headers are not trusted.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// sourceKey is what per-address limits count by: the peer's IPv4 address,
// or the /64 of an IPv6 one, which a single host usually holds whole
// (RFC 6177).
func sourceKey(r *http.Request) string {
	ip, err := netip.ParseAddr(remoteIP(r))
	if err != nil {
		return remoteIP(r)
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p.String()
}

// seeOther answers a POST (or a GET) with a 303 to loc.
func seeOther(w http.ResponseWriter, loc string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusSeeOther)
}
