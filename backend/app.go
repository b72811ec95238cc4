package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/keyrelay/keyrelay/backend/authserver"
	"github.com/keyrelay/keyrelay/backend/bearer"
	"github.com/keyrelay/keyrelay/backend/example"
	"github.com/keyrelay/keyrelay/backend/tool"
	"github.com/keyrelay/keyrelay/internal/clientauth"
	"github.com/keyrelay/keyrelay/internal/dpop"
	"github.com/keyrelay/keyrelay/internal/secret"
)

// app is the wired backend: handlers and the listeners they go on.
type app struct {
	log       *slog.Logger
	cfg       *config
	main      http.Handler
	auth      http.Handler // own listener, or nil
	validator validator
	stderr    io.Writer
	demoPass  secret.Value // the generated password of user "demo", if any: printed once listening
}

func build(ctx context.Context, cfg *config, log *slog.Logger, stderr io.Writer) (*app, error) {
	var as *authserver.Server
	var demoPass secret.Value
	if cfg.AuthServer {
		var err error
		if as, demoPass, err = newAuthServer(cfg, log); err != nil {
			return nil, err
		}
	}
	v, err := newValidator(ctx, cfg, as, log)
	if err != nil {
		return nil, err
	}
	ts := tool.NewServer(tool.Config{
		PublicURL: cfg.PublicURL, AuthServers: []string{cfg.AuthServerURL},
		Validator: v, Logger: log.With("component", "tools"),
		DPoP: &bearer.DPoP{Verifier: dpop.NewVerifier(dpopConfig(cfg)), Require: cfg.RequireDPoP},
	})
	if err := example.Register(ts, example.NewMemoryStore(), nil); err != nil {
		v.Close()
		return nil, err
	}
	a := &app{log: log, cfg: cfg, validator: v, stderr: stderr, demoPass: demoPass}
	a.main, a.auth = routes(ts, as, cfg.AuthAddr != "")
	return a, nil
}

// dpopConfig is the tool API's proof checking: server nonces with
// BACKEND_DPOP_NONCE=1.
func dpopConfig(cfg *config) dpop.VerifierConfig {
	var vc dpop.VerifierConfig
	if cfg.DPoPNonce {
		vc.Nonces = dpop.NewNonces(0, nil)
	}
	return vc
}

// routes mounts the tool API, /healthz and, unless it has its own
// listener, the authorization server.
func routes(ts *tool.Server, as *authserver.Server, ownListener bool) (main, auth http.Handler) {
	mux := http.NewServeMux()
	th := ts.Handler()
	mux.Handle("/mcp/", th)
	mux.Handle("/.well-known/oauth-protected-resource", th)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	if as != nil {
		if ownListener {
			auth = tool.WithRequestID(as.Handler())
		} else {
			mux.Handle("/", as.Handler())
		}
	}
	return tool.WithRequestID(mux), auth
}

// validator is a *bearer.Validator or a *bearer.Introspector.
type validator interface {
	tool.Validator
	Close()
}

// newValidator returns the JWT validator, or with BACKEND_INTROSPECTION=1
// an Introspector that hands JWT-shaped tokens to it (none with
// BACKEND_INTROSPECT_ALL=1).
func newValidator(ctx context.Context, cfg *config, as *authserver.Server, log *slog.Logger) (validator, error) {
	if !cfg.Introspection {
		return newJWTValidator(ctx, cfg, as, log)
	}
	endpoint := cfg.IntrospectionURL
	if endpoint == "" && as != nil {
		// Its own server is not listening yet: no discovery.
		if endpoint = as.Metadata().IntrospectionEndpoint; endpoint == "" {
			return nil, errors.New("BACKEND_INTROSPECTION=1 with --auth-server needs a client with \"introspect\": true in AUTH_MACHINE_CLIENTS_FILE")
		}
	}
	if endpoint == "" {
		var err error
		client := bearer.CappedClient(5*time.Second, 1<<20)
		if endpoint, err = bearer.DiscoverIntrospection(ctx, client, cfg.AuthServerURL); err != nil {
			return nil, err
		}
	}
	var jwtv *bearer.Validator
	if !cfg.IntrospectAll {
		var err error
		if jwtv, err = newJWTValidator(ctx, cfg, as, log); err != nil {
			return nil, err
		}
	}
	auth := "client_secret_basic"
	var key crypto.Signer
	if !cfg.ClientKey.IsZero() {
		k, err := clientauth.ParseKey([]byte(cfg.ClientKey.Reveal())) // checked by parseConfig
		if err != nil {
			return nil, fmt.Errorf("BACKEND_CLIENT_KEY_FILE: %w", err)
		}
		key, auth = k.Signer, "private_key_jwt "+k.Alg
	}
	log.Info("using token introspection", "issuer", cfg.AuthServerURL, "introspection_endpoint", endpoint,
		"introspect_all", cfg.IntrospectAll, "client_auth", auth)
	in, err := bearer.NewIntrospector(bearer.IntrospectionConfig{
		Issuer: cfg.AuthServerURL, Audience: cfg.Audience, AllowNoAudience: cfg.AllowNoAudience,
		Endpoint: endpoint, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret.Reveal(), ClientKey: key,
		CacheTTL: cfg.IntrospectionTTL, JWT: jwtv,
	})
	if err != nil {
		if jwtv != nil {
			jwtv.Close()
		}
		return nil, err
	}
	return in, nil
}

func newJWTValidator(ctx context.Context, cfg *config, as *authserver.Server, log *slog.Logger) (*bearer.Validator, error) {
	bc := bearer.Config{Issuer: cfg.AuthServerURL, Audience: cfg.Audience}
	switch {
	case !cfg.JWTSecret.IsZero():
		return bearer.NewHMAC(bc, []byte(cfg.JWTSecret.Reveal())) // copied into the Validator's closure, not a field
	case as != nil:
		return bearer.NewStaticKeySet(bc, as.JWKS())
	}
	client := bearer.CappedClient(5*time.Second, 1<<20)
	jwksURL, err := bearer.DiscoverJWKS(ctx, client, cfg.AuthServerURL)
	if err != nil {
		return nil, err
	}
	log.Info("using JWKS", "issuer", cfg.AuthServerURL, "jwks_uri", jwksURL)
	return bearer.NewKeySet(ctx, bc, jwksURL, bearer.KeySetOptions{Client: client, Logger: log.With("component", "jwks")})
}

// newAuthServer builds the authorization server, and returns the
// password it generated for user "demo" when no user is configured.
func newAuthServer(cfg *config, log *slog.Logger) (*authserver.Server, secret.Value, error) {
	users, demoPass, err := buildUsers(cfg.Users)
	if err != nil {
		return nil, secret.Value{}, err
	}
	var key *ecdsa.PrivateKey
	if cfg.JWTSecret.IsZero() && cfg.SigningKey != "" {
		if key, err = authserver.LoadOrCreateKey(cfg.SigningKey); err != nil {
			return nil, secret.Value{}, err
		}
	}
	// A registered client, like "relay", gets admin only on step-up.
	as, err := authserver.New(authserver.Config{
		Issuer:                  cfg.AuthServerURL,
		Resources:               []string{cfg.PublicURL},
		Scopes:                  []string{example.ScopeNotesRead, example.ScopeNotesWrite, example.ScopeAdmin},
		RegisteredDefaultScopes: []string{example.ScopeNotesRead, example.ScopeNotesWrite},
		Users:                   users,
		TokenTTL:                cfg.TokenTTL,
		HMACSecret:              cfg.JWTSecret,
		SigningKey:              key,
		MachineClients:          cfg.Machines,
		TrustedIdPs:             cfg.TrustedIdPs,
		TokenFormat:             cfg.TokenFormat,
		DPoP:                    cfg.AuthDPoP,
		DPoPNonce:               cfg.AuthDPoPNonce,
		Logger:                  log.With("component", "authserver"),
	})
	return as, demoPass, err
}

// buildUsers hashes the configured users. With none, it creates "demo"
// with a random password, which it returns: serve prints it once the
// listeners are up, so a backend that cannot start shows no password.
func buildUsers(specs []secret.Value) ([]authserver.User, secret.Value, error) {
	if len(specs) == 0 {
		var b [12]byte
		_, _ = rand.Read(b[:])
		pw := base64.RawURLEncoding.EncodeToString(b[:])
		u, err := authserver.NewUser("demo", pw)
		if err != nil {
			return nil, secret.Value{}, err
		}
		return []authserver.User{u}, secret.New(pw), nil
	}
	users := make([]authserver.User, 0, len(specs))
	for i, s := range specs {
		name, pw, ok := strings.Cut(s.Reveal(), ":")
		if !ok || name == "" || pw == "" {
			return nil, secret.Value{}, fmt.Errorf("%w: user %d: want NAME:PASSWORD", authserver.ErrUserSpec, i+1)
		}
		u, err := authserver.NewUser(name, pw)
		if err != nil {
			return nil, secret.Value{}, fmt.Errorf("user %q: %w", name, err)
		}
		users = append(users, u)
	}
	return users, secret.Value{}, nil
}

func (a *app) close() { a.validator.Close() }

// listenError is a listener that could not be opened, with the setting
// that names its address.
type listenError struct {
	addr, flag, env string
	err             error
}

func (e *listenError) Error() string { return fmt.Sprintf("listen %s: %v", e.addr, e.err) }
func (e *listenError) Unwrap() error { return e.err }

// serve listens, then prints the generated password if any, reports the
// addresses on ready, and shuts down gracefully when ctx ends.
func (a *app) serve(ctx context.Context, ready chan<- []string) error {
	type bound struct {
		srv *http.Server
		ln  net.Listener
	}
	var all []bound
	listen := func(addr, flag, env string, h http.Handler) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return &listenError{addr, flag, env, err}
		}
		all = append(all, bound{newHTTPServer(h, a.log), ln})
		return nil
	}
	if err := listen(a.cfg.Addr, "addr", "BACKEND_ADDR", a.main); err != nil {
		return err
	}
	if a.auth != nil {
		if err := listen(a.cfg.AuthAddr, "auth-addr", "AUTH_SERVER_ADDR", a.auth); err != nil {
			all[0].ln.Close()
			return err
		}
	}
	if !a.demoPass.IsZero() {
		fmt.Fprintf(a.stderr, "backend: created user \"demo\" with password %s (shown once; set AUTH_USERS to choose users)\n", a.demoPass.Reveal())
	}
	errc := make(chan error, len(all))
	var addrs []string
	for _, b := range all {
		go func() { errc <- b.srv.Serve(b.ln) }()
		addrs = append(addrs, b.ln.Addr().String())
	}
	a.log.Info("backend listening", "addrs", addrs, "public_url", a.cfg.PublicURL, "issuer", a.cfg.AuthServerURL, "auth_server", a.cfg.AuthServer)
	if ready != nil {
		ready <- addrs
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, b := range all {
		_ = b.srv.Shutdown(sctx)
	}
	a.log.Info("backend stopped")
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
