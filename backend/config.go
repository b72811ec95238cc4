package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keyrelay/keyrelay/backend/authserver"
	"github.com/keyrelay/keyrelay/backend/bearer"
	"github.com/keyrelay/keyrelay/internal/clientauth"
	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/platform"
)

// config is the backend's settings. Each has a flag and an environment
// variable; a flag given on the command line wins.
type config struct {
	Addr          string
	PublicURL     string
	Audience      string // expected aud; default PublicURL
	AuthServerURL string
	JWTSecret     secret.Value // from JWT_SECRET or --jwt-secret-file; never a flag value
	AuthServer    bool
	AuthAddr      string         // own listener for the auth server; "" shares Addr
	Users         []secret.Value // NAME:PASSWORD specs
	TokenTTL      time.Duration
	SigningKey    string
	Machines      []authserver.MachineClient // AUTH_MACHINE_CLIENTS_FILE
	TrustedIdPs   []authserver.TrustedIdP    // AUTH_TRUSTED_IDPS_FILE
	LogLevel      string

	// Introspection (RFC 7662) instead of, or besides, JWT validation.
	Introspection    bool
	IntrospectionURL string        // default: the issuer's introspection_endpoint
	ClientID         string        // the backend's own client at the issuer
	ClientSecret     secret.Value  // from BACKEND_CLIENT_SECRET_FILE
	ClientKey        secret.Value  // PEM private key for private_key_jwt, from BACKEND_CLIENT_KEY_FILE
	IntrospectAll    bool          // introspect JWT-shaped tokens too
	IntrospectionTTL time.Duration // cap on caching an active answer
	AllowNoAudience  bool          // accept an introspection answer without aud
	TokenFormat      string        // the built-in server's access tokens: jwt or opaque

	// DPoP (RFC 9449).
	RequireDPoP   bool // refuse bearer tokens: only DPoP-bound tokens with proofs
	DPoPNonce     bool // the tool API requires its nonce in proofs
	AuthDPoP      bool // the built-in server accepts proofs and binds tokens (default on)
	AuthDPoPNonce bool // and requires its nonces in them
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// parseConfig reads flags from args and settings from getenv. A bad setting
// is an error with a one-line reason; -h, -help or --help is
// flag.ErrHelp, and nothing is printed (printHelp is the help).
func parseConfig(args []string, getenv func(string) string) (*config, error) {
	c, r := &config{}, &rawFlags{}
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	defineFlags(fs, c, r, getenv)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	specs := []string(r.users)
	if len(specs) == 0 && getenv("AUTH_USERS") != "" {
		specs = strings.Split(getenv("AUTH_USERS"), ",")
	}
	for _, s := range specs {
		c.Users = append(c.Users, secret.New(s))
	}
	var err error
	if c.TokenTTL, err = parseTTL(r.ttl); err != nil {
		return nil, err
	}
	if c.JWTSecret, err = loadSecret(getenv("JWT_SECRET"), r.secretFile); err != nil {
		return nil, err
	}
	if c.IntrospectionTTL, err = time.ParseDuration(r.introTTL); r.introTTL == "0" {
		c.IntrospectionTTL = -1 // no positive cache: a revocation counts at once
	} else if err != nil || c.IntrospectionTTL < time.Second || c.IntrospectionTTL > time.Hour {
		return nil, errors.New("BACKEND_INTROSPECTION_CACHE: want 0 (no cache) or a duration between 1s and 1h, like 60s")
	}
	if r.clientSecretFile != "" {
		b, err := platform.ReadSecretFile(r.clientSecretFile, maxSecretFile)
		if err != nil {
			return nil, fmt.Errorf("BACKEND_CLIENT_SECRET_FILE: %w", err)
		}
		c.ClientSecret = secret.New(strings.TrimRight(string(b), "\r\n"))
		if c.ClientSecret.IsZero() {
			return nil, errors.New("BACKEND_CLIENT_SECRET_FILE: the file is empty")
		}
	}
	if r.clientKeyFile != "" {
		if r.clientSecretFile != "" {
			return nil, errors.New("set BACKEND_CLIENT_SECRET_FILE or BACKEND_CLIENT_KEY_FILE, not both")
		}
		b, err := platform.ReadSecretFile(r.clientKeyFile, maxSecretFile)
		if err != nil {
			return nil, fmt.Errorf("BACKEND_CLIENT_KEY_FILE: %w", err)
		}
		if _, err := clientauth.ParseKey(b); err != nil {
			return nil, fmt.Errorf("BACKEND_CLIENT_KEY_FILE: %w", err)
		}
		c.ClientKey = secret.New(string(b))
	}
	if r.machineFile != "" {
		if c.Machines, err = loadMachineClients(r.machineFile); err != nil {
			return nil, err
		}
	}
	if r.idpsFile != "" {
		if c.TrustedIdPs, err = loadTrustedIdPs(r.idpsFile); err != nil {
			return nil, err
		}
	}
	return c, c.finish()
}

// rawFlags holds the flags that parseConfig converts after parsing.
type rawFlags struct {
	users                                  listFlag
	secretFile, ttl, machineFile, idpsFile string
	clientSecretFile, introTTL             string
	clientKeyFile                          string
}

// defineFlags registers the settings' flags on fs, into c and r, with
// their defaults from getenv. Each flag's usage names its variable.
func defineFlags(fs *flag.FlagSet, c *config, r *rawFlags, getenv func(string) string) {
	fs.StringVar(&c.Addr, "addr", envOr(getenv, "BACKEND_ADDR", "127.0.0.1:5002"), "listen address (BACKEND_ADDR)")
	fs.StringVar(&c.PublicURL, "public-url", getenv("BACKEND_PUBLIC_URL"), "canonical URL, the expected token audience (BACKEND_PUBLIC_URL; default http://ADDR)")
	fs.StringVar(&c.Audience, "audience", getenv("BACKEND_AUDIENCE"), "expected token audience, for providers that cannot put the resource URL in aud (BACKEND_AUDIENCE; default the public URL)")
	fs.StringVar(&c.AuthServerURL, "auth-server-url", getenv("AUTH_SERVER_URL"), "expected token issuer (AUTH_SERVER_URL; default the public URL with --auth-server)")
	fs.StringVar(&r.secretFile, "jwt-secret-file", getenv("JWT_SECRET_FILE"), "file holding the HS256 secret (JWT_SECRET_FILE); or set JWT_SECRET")
	fs.BoolVar(&c.AuthServer, "auth-server", getenv("BACKEND_AUTH_SERVER") == "1", "serve the built-in OAuth 2.1 authorization server (BACKEND_AUTH_SERVER=1)")
	fs.StringVar(&c.AuthAddr, "auth-addr", getenv("AUTH_SERVER_ADDR"), "serve the authorization server on its own listener (AUTH_SERVER_ADDR)")
	fs.Var(&r.users, "user", "auth server user NAME:PASSWORD, repeatable (AUTH_USERS=name:pw,...); argv is visible to local users, prefer AUTH_USERS")
	fs.StringVar(&r.ttl, "token-ttl", envOr(getenv, "AUTH_TOKEN_TTL", "15m"), "access token lifetime (AUTH_TOKEN_TTL)")
	fs.StringVar(&c.SigningKey, "signing-key", getenv("AUTH_SIGNING_KEY"), "ES256 signing key PEM file, created if missing (AUTH_SIGNING_KEY)")
	fs.StringVar(&r.machineFile, "machine-clients", getenv("AUTH_MACHINE_CLIENTS_FILE"), "JSON file of clients that sign in with client_credentials, with a secret or a public JWKS (AUTH_MACHINE_CLIENTS_FILE)")
	fs.BoolVar(&c.Introspection, "introspection", getenv("BACKEND_INTROSPECTION") == "1", "check opaque tokens by asking the issuer (RFC 7662 introspection; BACKEND_INTROSPECTION=1)")
	fs.StringVar(&c.IntrospectionURL, "introspection-url", getenv("BACKEND_INTROSPECTION_URL"), "introspection endpoint (BACKEND_INTROSPECTION_URL; default the issuer's introspection_endpoint)")
	fs.StringVar(&c.ClientID, "client-id", getenv("BACKEND_CLIENT_ID"), "the backend's client id at the issuer, for introspection (BACKEND_CLIENT_ID)")
	fs.StringVar(&r.clientSecretFile, "client-secret-file", getenv("BACKEND_CLIENT_SECRET_FILE"), "file holding the backend's client secret, for introspection (BACKEND_CLIENT_SECRET_FILE)")
	fs.StringVar(&r.clientKeyFile, "client-key-file", getenv("BACKEND_CLIENT_KEY_FILE"), "PEM private key (EC P-256, RSA, Ed25519) the backend signs its introspection requests with (private_key_jwt), instead of a secret (BACKEND_CLIENT_KEY_FILE)")
	fs.BoolVar(&c.IntrospectAll, "introspect-all", getenv("BACKEND_INTROSPECT_ALL") == "1", "introspect JWT-shaped tokens too, instead of checking their signature (BACKEND_INTROSPECT_ALL=1)")
	fs.StringVar(&r.introTTL, "introspection-cache", envOr(getenv, "BACKEND_INTROSPECTION_CACHE", "60s"), "longest reuse of an active introspection answer, never past the token's exp (BACKEND_INTROSPECTION_CACHE)")
	fs.BoolVar(&c.AllowNoAudience, "introspection-allow-no-aud", getenv("BACKEND_INTROSPECTION_ALLOW_NO_AUD") == "1", "accept an introspection answer without aud; one with aud must still name the backend (BACKEND_INTROSPECTION_ALLOW_NO_AUD=1)")
	fs.StringVar(&c.TokenFormat, "token-format", envOr(getenv, "AUTH_TOKEN_FORMAT", "jwt"), "the built-in server's access tokens: jwt, or opaque ones that need --introspection (AUTH_TOKEN_FORMAT)")
	fs.StringVar(&r.idpsFile, "trusted-idps", getenv("AUTH_TRUSTED_IDPS_FILE"), "JSON file of identity providers whose ID-JAGs machine clients may present (cross-app access): issuer, and public JWKS or jwks_uri (AUTH_TRUSTED_IDPS_FILE)")
	fs.BoolVar(&c.RequireDPoP, "require-dpop", getenv("BACKEND_REQUIRE_DPOP") == "1", "refuse bearer tokens: accept only DPoP-bound tokens with a proof of their key (BACKEND_REQUIRE_DPOP=1)")
	fs.BoolVar(&c.DPoPNonce, "dpop-nonce", getenv("BACKEND_DPOP_NONCE") == "1", "the tool API requires its DPoP-Nonce in proofs, so that a proof cannot be replayed against another instance (BACKEND_DPOP_NONCE=1)")
	fs.BoolVar(&c.AuthDPoP, "auth-dpop", getenv("AUTH_DPOP") != "0", "the built-in server accepts DPoP proofs and binds tokens to their key; --auth-dpop=false or AUTH_DPOP=0 turns it off (AUTH_DPOP)")
	fs.BoolVar(&c.AuthDPoPNonce, "auth-dpop-nonce", getenv("AUTH_DPOP_NONCE") == "1", "the built-in server requires its DPoP-Nonce in proofs (AUTH_DPOP_NONCE=1)")
	fs.StringVar(&c.LogLevel, "log-level", envOr(getenv, "BACKEND_LOG_LEVEL", "info"), "debug, info, warn or error (BACKEND_LOG_LEVEL)")
}

func envOr(getenv func(string) string, k, def string) string {
	if v := getenv(k); v != "" {
		return v
	}
	return def
}

func parseTTL(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		if n, nerr := strconv.Atoi(s); nerr == nil {
			d, err = time.Duration(n)*time.Second, nil
		}
	}
	if err != nil || d <= 0 || d > 24*time.Hour {
		return 0, fmt.Errorf("AUTH_TOKEN_TTL: want a duration between 1s and 24h, like 15m")
	}
	return d, nil
}

// loadMachineClients reads AUTH_MACHINE_CLIENTS_FILE: it may hold client
// secrets, so it is read as JWT_SECRET_FILE is.
func loadMachineClients(file string) ([]authserver.MachineClient, error) {
	b, err := platform.ReadSecretFile(file, maxSecretFile)
	if err != nil {
		return nil, fmt.Errorf("AUTH_MACHINE_CLIENTS_FILE: %w", err)
	}
	mcs, err := authserver.ParseMachineClients(b)
	if err != nil {
		return nil, fmt.Errorf("AUTH_MACHINE_CLIENTS_FILE: %w", err)
	}
	return mcs, nil
}

// loadTrustedIdPs reads AUTH_TRUSTED_IDPS_FILE: not a secret, but a
// trust anchor, so it is checked as the secret files are (the user's
// own, no symlink, writable and readable by no one else).
func loadTrustedIdPs(file string) ([]authserver.TrustedIdP, error) {
	b, err := platform.ReadSecretFile(file, maxSecretFile)
	if err != nil {
		return nil, fmt.Errorf("AUTH_TRUSTED_IDPS_FILE: %w", err)
	}
	idps, err := authserver.ParseTrustedIdPs(b)
	if err != nil {
		return nil, fmt.Errorf("AUTH_TRUSTED_IDPS_FILE: %w", err)
	}
	return idps, nil
}

// maxSecretFile bounds what loadSecret reads from JWT_SECRET_FILE.
const maxSecretFile = 64 << 10

// loadSecret reads the HS256 secret from the environment or a file. The
// value never appears in an error. Neither set gives the zero Value (no
// HS256); an empty file is an error. The file is read with the checks the
// relay applies to its key files (platform.ReadSecretFile): a symlink, a
// file of another user, or one readable by group or others is refused, as
// anyone who can read the secret can forge tokens.
func loadSecret(env, file string) (secret.Value, error) {
	if env != "" && file != "" {
		return secret.Value{}, errors.New("set JWT_SECRET or --jwt-secret-file, not both")
	}
	s := env
	if file != "" {
		b, err := platform.ReadSecretFile(file, maxSecretFile)
		if err != nil {
			return secret.Value{}, fmt.Errorf("JWT_SECRET_FILE: %w", err)
		}
		if s = strings.TrimRight(string(b), "\r\n"); s == "" {
			return secret.Value{}, errors.New("jwt secret file is empty")
		}
	}
	if s != "" && len(s) < bearer.MinHMACSecret {
		return secret.Value{}, fmt.Errorf("JWT_SECRET must be at least %d bytes (an empty or short HMAC key is unsafe)", bearer.MinHMACSecret)
	}
	return secret.New(s), nil
}

// errNoIssuer: neither --auth-server nor AUTH_SERVER_URL says who issues
// the tokens.
var errNoIssuer = errors.New("AUTH_SERVER_URL is required without --auth-server")

// finish fills defaults that depend on other settings and checks URLs.
func (c *config) finish() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("BACKEND_ADDR %q: want host:port", c.Addr)
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Addr
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/") // the canonical resource form
	if c.Audience == "" {
		c.Audience = c.PublicURL
	}
	if c.AuthServer && c.Audience != c.PublicURL {
		return errors.New("BACKEND_AUDIENCE cannot differ from the public URL with --auth-server, which puts the resource in aud")
	}
	if err := checkBaseURL("BACKEND_PUBLIC_URL", c.PublicURL); err != nil {
		return err
	}
	if c.AuthAddr != "" && !c.AuthServer {
		return errors.New("AUTH_SERVER_ADDR needs --auth-server")
	}
	if len(c.Machines) > 0 && !c.AuthServer {
		return errors.New("AUTH_MACHINE_CLIENTS_FILE needs --auth-server")
	}
	if len(c.TrustedIdPs) > 0 && !c.AuthServer {
		return errors.New("AUTH_TRUSTED_IDPS_FILE needs --auth-server")
	}
	if c.AuthServerURL == "" && c.AuthServer {
		c.AuthServerURL = c.PublicURL
		if c.AuthAddr != "" {
			c.AuthServerURL = "http://" + c.AuthAddr
		}
	}
	if c.AuthServerURL == "" {
		return errNoIssuer
	}
	if err := checkBaseURL("AUTH_SERVER_URL", c.AuthServerURL); err != nil {
		return err
	}
	if c.JWTSecret.IsZero() && !c.AuthServer && c.SigningKey != "" {
		return errors.New("AUTH_SIGNING_KEY needs --auth-server")
	}
	if c.TokenFormat != authserver.TokenJWT && c.TokenFormat != authserver.TokenOpaque {
		return errors.New("AUTH_TOKEN_FORMAT: want jwt or opaque")
	}
	if c.TokenFormat == authserver.TokenOpaque && (!c.AuthServer || !c.Introspection) {
		return errors.New("AUTH_TOKEN_FORMAT=opaque needs --auth-server and BACKEND_INTROSPECTION=1")
	}
	if c.AuthDPoPNonce && (!c.AuthServer || !c.AuthDPoP) {
		return errors.New("AUTH_DPOP_NONCE=1 needs --auth-server with DPoP on (AUTH_DPOP)")
	}
	return c.finishIntrospection()
}

// finishIntrospection checks the introspection settings.
func (c *config) finishIntrospection() error {
	if !c.Introspection {
		if c.IntrospectionURL != "" || c.IntrospectAll || c.AllowNoAudience {
			return errors.New("BACKEND_INTROSPECTION_URL, BACKEND_INTROSPECT_ALL and BACKEND_INTROSPECTION_ALLOW_NO_AUD need BACKEND_INTROSPECTION=1")
		}
		return nil
	}
	if c.ClientID == "" || (c.ClientSecret.IsZero() && c.ClientKey.IsZero()) {
		return errors.New("BACKEND_INTROSPECTION=1 needs BACKEND_CLIENT_ID and BACKEND_CLIENT_SECRET_FILE (or BACKEND_CLIENT_KEY_FILE)")
	}
	if c.IntrospectionURL != "" {
		if err := checkBaseURL("BACKEND_INTROSPECTION_URL", c.IntrospectionURL); err != nil {
			return err
		}
	}
	return nil
}

// checkBaseURL accepts an absolute http(s) URL with no query or fragment,
// https unless the host is loopback.
func checkBaseURL(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%s %q: want an absolute URL without query, fragment or userinfo", name, raw)
	}
	if err := bearer.CheckURL(raw); err != nil {
		return fmt.Errorf("%s %q: %v", name, raw, err)
	}
	return nil
}
