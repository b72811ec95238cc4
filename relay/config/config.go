// Package config reads the relay's settings from flags and the
// environment. The variable names are a contract with users' MCP client
// configurations; flags mirror them and win when both are given. It also
// splits a command line into the command and its flags (Command,
// ParseCommand), holds the help texts (Help), and applies the
// administrator's policy to the settings (LoadPolicy, CheckPolicy).
//
// Every URL must be https unless its host is loopback. Errors are one line
// and never contain a secret (the secrets here, RELAY_CLIENT_SECRET and
// the header values, are never put in one; the others live in the vault or
// in files named by path). ScrubEnv removes the secret variables from the
// process environment, so no child process inherits them.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/oauth"
)

// Config is the relay's settings.
type Config struct {
	AuthServerURL  string        // RELAY_AUTH_SERVER_URL: the issuer; "" = discover from the backend (RFC 9728)
	BackendURL     string        // RELAY_BACKEND_URL, canonical
	MCPURL         string        // RELAY_MCP_URL, canonical: a remote MCP server to front (instead of BackendURL)
	MCPTransport   string        // RELAY_MCP_TRANSPORT: auto (default), streamable-http or sse
	Headers        []Header      // RELAY_HEADERS and --header: extra headers for the MCP server (secrets)
	IgnoreTools    []string      // RELAY_IGNORE_TOOLS and --ignore-tool: tool name patterns to hide (MCP server)
	PingInterval   time.Duration // RELAY_PING_INTERVAL: keep the MCP server's session alive; 0 = off
	Resource       string        // RELAY_RESOURCE: the RFC 8707 resource; "" after Check = none ("off")
	ClientID       string        // RELAY_CLIENT_ID; "" = metadata document, then dynamic registration
	ClientSecret   secret.Value  // RELAY_CLIENT_SECRET (environment only, never a flag): a confidential client
	ClientKey      secret.Value  // the PEM private key of RELAY_CLIENT_KEY_FILE: private_key_jwt
	ClientKeyFile  string        // RELAY_CLIENT_KEY_FILE
	ClientCreds    bool          // RELAY_CLIENT_CREDENTIALS=1 or --client-credentials: the client_credentials grant
	IdPIssuer      string        // RELAY_IDP_ISSUER: cross-app access (SEP-990) through this identity provider
	IdPClientID    string        // RELAY_IDP_CLIENT_ID: the relay's client at the identity provider
	IdPTokenFile   string        // RELAY_IDP_ID_TOKEN_FILE: a file holding the ID token, read on each use
	ClientMetaURL  string        // RELAY_CLIENT_METADATA_URL: a Client ID Metadata Document
	AuthorizeParam url.Values    // RELAY_AUTHORIZE_PARAMS: extra authorization parameters
	Scopes         []string      // RELAY_SCOPES, space-separated
	DataDir        string        // RELAY_DATA_DIR, "" = the OS default
	VaultKey       string        // RELAY_VAULT_KEY
	PassphraseFile string        // RELAY_VAULT_PASSPHRASE_FILE
	CallbackPort   int           // RELAY_CALLBACK_PORT, 0 = random
	CallbackHost   string        // RELAY_CALLBACK_HOST: 127.0.0.1 (default) or localhost
	CallbackPath   string        // RELAY_CALLBACK_PATH: the redirect URI's path, default /callback
	LoginTimeout   time.Duration // RELAY_LOGIN_TIMEOUT, default 5m
	BackendTimeout time.Duration // RELAY_BACKEND_TIMEOUT, default 60s
	AuthTimeout    time.Duration // RELAY_AUTH_TIMEOUT: one request to the authorization server, default 30s
	LogLevel       string        // RELAY_LOG_LEVEL, default info
	PolicyFile     string        // RELAY_POLICY_FILE: a policy applied on top of the machine-wide one
	AssumePKCE     string        // RELAY_ASSUME_PKCE_S256: the one issuer whose metadata may omit code_challenge_methods_supported
	DPoP           string        // RELAY_DPOP: auto (default), on or off (see DPoPMode)

	headerErr error // a bad RELAY_HEADERS, reported by Check so the server still starts
	keyErr    error // a bad RELAY_CLIENT_KEY_FILE or RELAY_CLIENT_CREDENTIALS, likewise
}

// Vars lists the environment variables read, for help texts.
var Vars = []struct{ Name, Meaning string }{
	{"RELAY_AUTH_SERVER_URL", "the authorization server (issuer) URL (default: discovered from the backend)"},
	{"RELAY_BACKEND_URL", "the backend URL"},
	{"RELAY_MCP_URL", "instead of RELAY_BACKEND_URL: a remote Streamable HTTP MCP server to front (https://host/mcp)"},
	{"RELAY_MCP_TRANSPORT", "transport to RELAY_MCP_URL: auto (default: Streamable HTTP, else the legacy HTTP+SSE transport when the server refuses the POST with 404 or 405), streamable-http or sse"},
	{"RELAY_HEADERS", "extra headers for RELAY_MCP_URL, one \"Name: value\" per line (or repeat --header \"Name: value\"); ${VAR} in a value is read from the environment; values are never logged"},
	{"RELAY_HEADERS_FILE", "a file of extra headers for RELAY_MCP_URL, as RELAY_HEADERS (# starts a comment line); it must be the user's own and readable by no one else"},
	{"RELAY_PING_INTERVAL", "ping the RELAY_MCP_URL server's session this often to keep it alive, e.g. 30s (1s to 1h; default off)"},
	{"RELAY_IGNORE_TOOLS", "tools of RELAY_MCP_URL to hide and refuse: name patterns, comma-separated (or repeat --ignore-tool); * matches any run, case is ignored"},
	{"RELAY_RESOURCE", "the OAuth resource (RFC 8707): default the backend or MCP URL; off to send none"},
	{"RELAY_CLIENT_ID", "OAuth client id (default: a metadata document, else dynamic registration, else relay)"},
	{"RELAY_CLIENT_SECRET", "secret of a confidential RELAY_CLIENT_ID; stored in the vault at first use, so it can be removed from the environment after"},
	{"RELAY_CLIENT_CREDENTIALS", "1: sign in without a person, with the client_credentials grant of RELAY_CLIENT_ID and its RELAY_CLIENT_SECRET or RELAY_CLIENT_KEY_FILE; for CI and scheduled jobs"},
	{"RELAY_CLIENT_KEY_FILE", "instead of RELAY_CLIENT_SECRET: a PEM private key (EC P-256, RSA of 2048 bits or more, or Ed25519) for private_key_jwt; it must be the user's own and readable by no one else; stored in the vault at first use"},
	{"RELAY_IDP_ISSUER", "cross-app access (SEP-990): the enterprise identity provider whose sign-in is traded for the server's token; needs RELAY_IDP_CLIENT_ID, RELAY_CLIENT_ID and its RELAY_CLIENT_SECRET or RELAY_CLIENT_KEY_FILE"},
	{"RELAY_IDP_CLIENT_ID", "the relay's client id at RELAY_IDP_ISSUER"},
	{"RELAY_IDP_ID_TOKEN_FILE", "a file holding the ID token of RELAY_IDP_ISSUER, for headless runs; read on each use; it must be the user's own and readable by no one else; without it, the relay signs in to the identity provider in the browser once"},
	{"RELAY_CLIENT_METADATA_URL", "https URL of a Client ID Metadata Document to use as the client id"},
	{"RELAY_AUTHORIZE_PARAMS", "extra authorization parameters, as a query: audience=...&access_type=offline"},
	{"RELAY_SCOPES", "space-separated scopes to ask for"},
	{"RELAY_DATA_DIR", "the vault's directory (default: the OS config dir)"},
	{"RELAY_VAULT_KEY", "vault key source: keychain, file:PATH, cmd:COMMAND or passphrase"},
	{"RELAY_VAULT_PASSPHRASE_FILE", "file holding the vault passphrase: needed by the stdio server; login, status and logout read it too instead of asking"},
	{"RELAY_CALLBACK_PORT", "fixed loopback callback port (default random)"},
	{"RELAY_CALLBACK_HOST", "host of the redirect URI: 127.0.0.1 (default) or localhost, for a client registered with http://localhost:PORT/...; the callback listens on loopback only"},
	{"RELAY_CALLBACK_PATH", "path of the redirect URI (default /callback), such as /oauth/callback"},
	{"RELAY_LOGIN_TIMEOUT", "how long a login may take (default 5m)"},
	{"RELAY_BACKEND_TIMEOUT", "timeout of one backend call (default 60s)"},
	{"RELAY_AUTH_TIMEOUT", "timeout of one request to the authorization server: metadata, token, revocation (default 30s)"},
	{"RELAY_LOG_LEVEL", "debug, info, warn or error (default info); logs go to stderr"},
	{"RELAY_POLICY_FILE", "a policy file applied on top of the machine-wide one; it can only add restrictions"},
	{"RELAY_ASSUME_PKCE_S256", "one issuer URL, exactly as its metadata says, whose metadata omits code_challenge_methods_supported although it does PKCE with S256 (Microsoft Entra ID): S256 is then assumed for it; see SECURITY.md"},
	{"BROWSER", "command that opens the login URL (default: the OS opener)"},
	{"RELAY_DPOP", "DPoP (RFC 9449): bind the tokens to a key kept in the vault, so that a copied token is useless without it: auto (default: when the authorization server offers it), on (refuse a server without it) or off"},
}

// Parse reads fs-registered flags from args over the environment. It
// returns the parsed config and the remaining arguments.
func Parse(name string, args []string, getenv func(string) string, stderr io.Writer) (*Config, []string, error) {
	c, r := &Config{}, &raw{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	define(fs, c, r, getenv)
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	var err error
	c.Scopes = strings.Fields(r.scopes)
	c.Headers, c.headerErr = ParseHeaders(getenv("RELAY_HEADERS"), r.headers, getenv)
	if r.headerFile != "" && c.headerErr == nil {
		var more []Header
		more, c.headerErr = ParseHeaderFile(r.headerFile, getenv)
		c.Headers = append(c.Headers, more...)
	}
	c.IgnoreTools = toolPatterns(getenv("RELAY_IGNORE_TOOLS"), r.ignoreTools)
	c.ClientSecret = secret.New(getenv("RELAY_CLIENT_SECRET"))
	if c.ClientKeyFile != "" {
		c.ClientKey, c.keyErr = readClientKey(c.ClientKeyFile)
	}
	if r.clientCreds != "" && c.keyErr == nil {
		c.ClientCreds, c.keyErr = parseSwitch("RELAY_CLIENT_CREDENTIALS", r.clientCreds)
	}
	if c.AuthorizeParam, err = url.ParseQuery(r.authzParams); err != nil {
		return nil, nil, fmt.Errorf("RELAY_AUTHORIZE_PARAMS: want a query like audience=x&access_type=offline")
	}
	if c.CallbackPort, err = parsePort(r.port); err != nil {
		return nil, nil, err
	}
	if err := checkCallback(c.CallbackHost, c.CallbackPath); err != nil {
		return nil, nil, err
	}
	if c.LoginTimeout, err = parseDur("RELAY_LOGIN_TIMEOUT", r.loginTO, time.Second, time.Hour); err != nil {
		return nil, nil, err
	}
	if c.BackendTimeout, err = parseDur("RELAY_BACKEND_TIMEOUT", r.backendTO, 100*time.Millisecond, 10*time.Minute); err != nil {
		return nil, nil, err
	}
	if r.pingEvery != "" {
		if c.PingInterval, err = parseDur("RELAY_PING_INTERVAL", r.pingEvery, time.Second, time.Hour); err != nil {
			return nil, nil, err
		}
	}
	if c.AuthTimeout, err = parseDur("RELAY_AUTH_TIMEOUT", r.authTO, 100*time.Millisecond, 10*time.Minute); err != nil {
		return nil, nil, err
	}
	return c, fs.Args(), nil
}

// raw holds the flags that Parse converts after parsing.
type raw struct {
	scopes, port, loginTO, backendTO, authTO, authzParams, pingEvery, headerFile, clientCreds string
	headers, ignoreTools                                                                      headerList
}

// define registers the settings' flags on fs, into c and r, with their
// defaults from getenv. Each flag's usage ends with its variable's name in
// parentheses: Help pairs them by it.
func define(fs *flag.FlagSet, c *Config, r *raw, getenv func(string) string) {
	fs.StringVar(&c.AuthServerURL, "auth-server-url", getenv("RELAY_AUTH_SERVER_URL"), "authorization server URL (RELAY_AUTH_SERVER_URL)")
	fs.StringVar(&c.BackendURL, "backend-url", getenv("RELAY_BACKEND_URL"), "backend URL (RELAY_BACKEND_URL)")
	fs.StringVar(&c.MCPURL, "mcp-url", getenv("RELAY_MCP_URL"), "remote MCP server URL (RELAY_MCP_URL)")
	fs.StringVar(&c.MCPTransport, "mcp-transport", or(getenv("RELAY_MCP_TRANSPORT"), "auto"), "transport to the MCP server: auto, streamable-http or sse (RELAY_MCP_TRANSPORT)")
	fs.Var(&r.headers, "header", `extra header "Name: value" for the MCP server, repeatable (RELAY_HEADERS)`)
	fs.StringVar(&r.headerFile, "header-file", getenv("RELAY_HEADERS_FILE"), "file of extra headers for the MCP server (RELAY_HEADERS_FILE)")
	fs.Var(&r.ignoreTools, "ignore-tool", `tool name pattern to hide, such as delete*, repeatable (RELAY_IGNORE_TOOLS)`)
	fs.StringVar(&c.ClientID, "client-id", getenv("RELAY_CLIENT_ID"), "OAuth client id (RELAY_CLIENT_ID)")
	fs.StringVar(&c.ClientKeyFile, "client-key-file", getenv("RELAY_CLIENT_KEY_FILE"), "PEM private key file for private_key_jwt (RELAY_CLIENT_KEY_FILE)")
	r.clientCreds = getenv("RELAY_CLIENT_CREDENTIALS")
	fs.BoolFunc("client-credentials", "sign in with the client_credentials grant, without a person (RELAY_CLIENT_CREDENTIALS)", func(v string) error {
		r.clientCreds = v
		return nil
	})
	fs.StringVar(&c.IdPIssuer, "idp-issuer", getenv("RELAY_IDP_ISSUER"), "identity provider for cross-app access (RELAY_IDP_ISSUER)")
	fs.StringVar(&c.IdPClientID, "idp-client-id", getenv("RELAY_IDP_CLIENT_ID"), "client id at the identity provider (RELAY_IDP_CLIENT_ID)")
	fs.StringVar(&c.IdPTokenFile, "idp-id-token-file", getenv("RELAY_IDP_ID_TOKEN_FILE"), "file holding the identity provider's ID token (RELAY_IDP_ID_TOKEN_FILE)")
	fs.StringVar(&c.ClientMetaURL, "client-metadata-url", getenv("RELAY_CLIENT_METADATA_URL"), "Client ID Metadata Document URL (RELAY_CLIENT_METADATA_URL)")
	fs.StringVar(&c.Resource, "resource", getenv("RELAY_RESOURCE"), "OAuth resource, or off (RELAY_RESOURCE)")
	fs.StringVar(&r.authzParams, "authorize-params", getenv("RELAY_AUTHORIZE_PARAMS"), "extra authorization parameters (RELAY_AUTHORIZE_PARAMS)")
	fs.StringVar(&r.scopes, "scopes", getenv("RELAY_SCOPES"), "space-separated scopes (RELAY_SCOPES)")
	fs.StringVar(&c.DataDir, "data-dir", getenv("RELAY_DATA_DIR"), "vault directory (RELAY_DATA_DIR)")
	fs.StringVar(&c.VaultKey, "vault-key", getenv("RELAY_VAULT_KEY"), "vault key source (RELAY_VAULT_KEY)")
	fs.StringVar(&c.PassphraseFile, "passphrase-file", getenv("RELAY_VAULT_PASSPHRASE_FILE"), "vault passphrase file (RELAY_VAULT_PASSPHRASE_FILE)")
	fs.StringVar(&r.port, "callback-port", getenv("RELAY_CALLBACK_PORT"), "fixed callback port (RELAY_CALLBACK_PORT)")
	fs.StringVar(&c.CallbackHost, "callback-host", or(getenv("RELAY_CALLBACK_HOST"), oauth.DefaultCallbackHost), "redirect URI host: 127.0.0.1 or localhost (RELAY_CALLBACK_HOST)")
	fs.StringVar(&c.CallbackPath, "callback-path", or(getenv("RELAY_CALLBACK_PATH"), oauth.DefaultCallbackPath), "redirect URI path (RELAY_CALLBACK_PATH)")
	fs.StringVar(&r.pingEvery, "ping-interval", getenv("RELAY_PING_INTERVAL"), "keep-alive ping interval for the MCP server (RELAY_PING_INTERVAL)")
	fs.StringVar(&r.loginTO, "login-timeout", or(getenv("RELAY_LOGIN_TIMEOUT"), "5m"), "login timeout (RELAY_LOGIN_TIMEOUT)")
	fs.StringVar(&r.backendTO, "backend-timeout", or(getenv("RELAY_BACKEND_TIMEOUT"), "60s"), "backend call timeout (RELAY_BACKEND_TIMEOUT)")
	fs.StringVar(&r.authTO, "auth-timeout", or(getenv("RELAY_AUTH_TIMEOUT"), "30s"), "authorization server request timeout (RELAY_AUTH_TIMEOUT)")
	fs.StringVar(&c.LogLevel, "log-level", or(getenv("RELAY_LOG_LEVEL"), "info"), "log level (RELAY_LOG_LEVEL)")
	fs.StringVar(&c.PolicyFile, "policy-file", getenv("RELAY_POLICY_FILE"), "extra policy file (RELAY_POLICY_FILE)")
	fs.StringVar(&c.DPoP, "dpop", or(getenv("RELAY_DPOP"), oauth.DPoPAuto), "DPoP-bound tokens: auto, on or off (RELAY_DPOP)")
	fs.StringVar(&c.AssumePKCE, "assume-pkce-s256", getenv("RELAY_ASSUME_PKCE_S256"), "issuer for which PKCE S256 is assumed (RELAY_ASSUME_PKCE_S256)")
	// The usage text shows each flag's default, which comes from the
	// environment: never a URL's userinfo or query.
	for _, n := range []string{"auth-server-url", "backend-url", "mcp-url", "client-metadata-url", "resource", "assume-pkce-s256", "idp-issuer"} {
		f := fs.Lookup(n)
		f.DefValue = RedactURL(f.DefValue)
	}
}

// Check validates what the OAuth flows and tool calls need. The stdio
// server starts even when it fails, and reports it on each tool call.
func (c *Config) Check() error {
	if c.headerErr != nil {
		return c.headerErr
	}
	if err := c.checkServer(); err != nil {
		return err
	}
	if c.AuthServerURL != "" {
		if _, err := Canonical("RELAY_AUTH_SERVER_URL", c.AuthServerURL); err != nil {
			return err
		}
	}
	if err := c.checkResource(); err != nil {
		return err
	}
	if err := checkAssumePKCE(c.AssumePKCE); err != nil {
		return err
	}
	if err := checkDPoP(c.DPoP); err != nil {
		return err
	}
	if !c.ClientSecret.IsZero() && c.ClientID == "" {
		return errors.New("RELAY_CLIENT_SECRET needs RELAY_CLIENT_ID")
	}
	if err := c.checkClientCreds(); err != nil {
		return err
	}
	if err := c.checkCrossApp(); err != nil {
		return err
	}
	if c.ClientMetaURL != "" {
		if u, err := url.Parse(c.ClientMetaURL); err != nil || u.Scheme != "https" || u.Host == "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("RELAY_CLIENT_METADATA_URL %q: want an https URL without userinfo or fragment", RedactURL(c.ClientMetaURL))
		}
	}
	return checkLevel(c.LogLevel)
}

// checkAssumePKCE: one issuer URL, as RELAY_AUTH_SERVER_URL is checked.
// It is not made canonical: it is compared with the metadata's issuer
// byte for byte, so a trailing slash or a capital letter counts.
func checkAssumePKCE(iss string) error {
	if iss == "" {
		return nil
	}
	if strings.ContainsAny(iss, " \t\r\n") {
		return fmt.Errorf("RELAY_ASSUME_PKCE_S256 %q: want one issuer URL, not a list", RedactURL(iss))
	}
	_, err := Canonical("RELAY_ASSUME_PKCE_S256", iss)
	return err
}

func checkLevel(s string) error {
	switch strings.ToLower(s) {
	case "debug", "info", "warn", "error":
		return nil
	}
	return fmt.Errorf("RELAY_LOG_LEVEL %q: want debug, info, warn or error", s)
}

// ErrNoServer means neither RELAY_BACKEND_URL nor RELAY_MCP_URL is set:
// the relay has nothing to talk to.
var ErrNoServer = errors.New("RELAY_BACKEND_URL (or RELAY_MCP_URL) is not set")

// checkServer requires exactly one of the backend URL and the MCP URL, and
// makes it canonical.
func (c *Config) checkServer() error {
	switch {
	case c.BackendURL == "" && c.MCPURL == "":
		return ErrNoServer
	case c.BackendURL != "" && c.MCPURL != "":
		return errors.New("set RELAY_BACKEND_URL or RELAY_MCP_URL, not both")
	case c.PingInterval > 0 && c.MCPURL == "":
		return errors.New("RELAY_PING_INTERVAL needs RELAY_MCP_URL")
	case len(c.IgnoreTools) > 0 && c.MCPURL == "":
		return errors.New("RELAY_IGNORE_TOOLS needs RELAY_MCP_URL")
	case len(c.Headers) > 0 && c.MCPURL == "":
		return errors.New("RELAY_HEADERS needs RELAY_MCP_URL")
	case !slices.Contains([]string{"", "auto", "streamable-http", "sse"}, c.MCPTransport):
		return fmt.Errorf("RELAY_MCP_TRANSPORT %q: want auto, streamable-http or sse", c.MCPTransport)
	case c.MCPTransport != "" && c.MCPTransport != "auto" && c.MCPURL == "":
		return errors.New("RELAY_MCP_TRANSPORT needs RELAY_MCP_URL")
	case c.MCPURL != "":
		canon, err := Canonical("RELAY_MCP_URL", c.MCPURL)
		c.MCPURL = canon
		return err
	}
	canon, err := Canonical("RELAY_BACKEND_URL", c.BackendURL)
	c.BackendURL = canon
	return err
}

// Server is the URL of the protected resource the relay talks to: the MCP
// URL in proxy mode, else the backend URL.
func (c *Config) Server() string {
	if c.MCPURL != "" {
		return c.MCPURL
	}
	return c.BackendURL
}

// checkResource fills Resource: the backend URL by default, none for
// "off", else an absolute URI without a fragment (Entra uses api://...).
func (c *Config) checkResource() error {
	switch c.Resource {
	case "":
		c.Resource = c.Server()
		return nil
	case "off":
		c.Resource = ""
		return nil
	}
	u, err := url.Parse(c.Resource)
	if err != nil || !u.IsAbs() || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("RELAY_RESOURCE %q: want an absolute URI without userinfo or fragment, or off", RedactURL(c.Resource))
	}
	return nil
}

// Canonical checks raw and returns its canonical form (RFC 8707 resource
// style): lowercase scheme and host, no trailing slash, no query, fragment
// or userinfo, https unless the host is loopback. Its errors show raw
// through RedactURL.
//
// The query and the userinfo are refused, not dropped: what the relay
// sends is what was configured. A key in them would also reach places a
// key must not: the default resource (sent to the authorization server),
// the vault's account, and the texts of Go's HTTP errors, which quote the
// URL. RELAY_HEADERS carries a key for an MCP server instead.
func Canonical(name, raw string) (string, error) {
	shown := RedactURL(raw)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("%s %q: want an absolute http(s) URL", name, shown)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		hint := ""
		if name == "RELAY_MCP_URL" {
			hint = "; send an API key as a header with RELAY_HEADERS instead"
		}
		return "", fmt.Errorf("%s %q: no query, fragment or userinfo allowed%s", name, shown, hint)
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if u.Scheme == "http" && !IsLoopback(u.Hostname()) {
		return "", fmt.Errorf("%s %q: must be https unless the host is loopback", name, shown)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// IsLoopback reports whether host is localhost or a loopback IP literal.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func parsePort(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("RELAY_CALLBACK_PORT %q: want a port from 1 to 65535", s)
	}
	return p, nil
}

// checkCallback validates RELAY_CALLBACK_HOST and RELAY_CALLBACK_PATH with
// the rules the OAuth client applies.
func checkCallback(host, path string) error {
	if err := oauth.CheckCallbackHost(host); err != nil {
		return fmt.Errorf("RELAY_CALLBACK_HOST %q: %w", host, err)
	}
	if err := oauth.CheckCallbackPath(path); err != nil {
		return fmt.Errorf("RELAY_CALLBACK_PATH %q: %w", path, err)
	}
	return nil
}

func parseDur(name, s string, min, max time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < min || d > max {
		return 0, fmt.Errorf("%s %q: want a duration from %v to %v, like 5m", name, s, min, max)
	}
	return d, nil
}

// toolPatterns reads RELAY_IGNORE_TOOLS (patterns separated by commas or
// line breaks), then each --ignore-tool flag, dropping empty ones.
func toolPatterns(env string, flags []string) []string {
	var out []string
	for _, p := range append(strings.FieldsFunc(env, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }), flags...) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
