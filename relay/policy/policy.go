// Package policy reads the administrator's relay policy and answers the
// relay's questions about it: may this backend, issuer or authorization
// server host be used, must the vault key be in the OS keychain, how long
// may a token or a sign-in be used, may the device grant run, for which
// issuers is PKCE with S256 assumed when their metadata does not list it.
//
// Security properties:
//   - The machine-wide file (platform.PolicyPath, writable only by an
//     administrator) is always read. RELAY_POLICY_FILE can name one more
//     file, and every rule of every file applies: a second file can only
//     tighten, never loosen.
//   - A policy file that exists but cannot be read or parsed, or that holds
//     an unknown setting, stops the relay (fail closed): a misspelt rule is
//     never silently ignored.
//   - A nil *Policy allows everything, so callers need no special case.
//
// Non-goals: it cannot stop a user who controls the machine from running a
// modified relay; it is the administrator's statement of intent, enforced
// by the relay the administrator installed.
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// EnvFile names the variable that adds a policy file.
const EnvFile = "RELAY_POLICY_FILE"

// maxFileSize caps a policy file.
const maxFileSize = 64 << 10

// ErrDenied is wrapped by every refusal the policy makes.
var ErrDenied = errors.New("refused by policy")

// ErrInvalid is wrapped when a policy file cannot be used.
var ErrInvalid = errors.New("invalid policy file")

// Rules are the settings of one policy file. The JSON names are a contract
// with administrators.
type Rules struct {
	// RequireKeychain refuses every vault key source but the OS keychain:
	// no key file, key command or passphrase, and no fallback.
	RequireKeychain bool `json:"require_keychain,omitempty"`
	// AllowedIssuers pins the authorization server: its issuer must be one
	// of these, compared exactly.
	AllowedIssuers []string `json:"allowed_issuers,omitempty"`
	// AllowedBackendHosts lists the hosts RELAY_BACKEND_URL may name (see
	// Match for the forms).
	AllowedBackendHosts []string `json:"allowed_backend_hosts,omitempty"`
	// AllowedAuthServerHosts lists the hosts the issuer and every endpoint
	// in its metadata may be on.
	AllowedAuthServerHosts []string `json:"allowed_auth_server_hosts,omitempty"`
	// MaxTokenLifetime is how long the relay uses one access token after
	// receiving it; it then refreshes. Go duration syntax, e.g. "30m".
	MaxTokenLifetime Duration `json:"max_token_lifetime,omitzero"`
	// MaxSession is how long the relay keeps using a sign-in (its refresh
	// tokens); it then drops them and asks for a new sign-in.
	MaxSession Duration `json:"max_session,omitzero"`
	// DisableDeviceGrant turns off the device authorization grant
	// (relay login --device, and its use when no browser can be shown).
	DisableDeviceGrant bool `json:"disable_device_grant,omitempty"`
	// DisableClientCredentials turns off the client_credentials mode
	// (RELAY_CLIENT_CREDENTIALS): only a person's sign-in.
	DisableClientCredentials bool `json:"disable_client_credentials,omitempty"`
	// AssumePKCES256 lists the issuers whose metadata may omit
	// code_challenge_methods_supported (Microsoft Entra ID's does): the
	// relay then assumes PKCE with S256 for them (see AssumePKCES256). It
	// is also a limit: RELAY_ASSUME_PKCE_S256 may name only an issuer it
	// lists, so an empty list forbids the setting. nil: no such rule.
	AssumePKCES256 []string `json:"assume_pkce_s256,omitempty"`
	// AllowedIdPIssuers lists the enterprise identity providers that
	// cross-app access (RELAY_IDP_ISSUER) may use, compared exactly; an
	// empty list turns cross-app access off. nil: no such rule.
	AllowedIdPIssuers []string `json:"allowed_idp_issuers,omitempty"`
	// RequireDPoP makes every sign-in use DPoP (RFC 9449), as
	// RELAY_DPOP=on does: an authorization server without it is refused,
	// and RELAY_DPOP=off is refused.
	RequireDPoP bool `json:"require_dpop,omitempty"`
}

// Duration is a time.Duration written as a Go duration string.
type Duration time.Duration

// UnmarshalJSON reads "30m", "8h" and the like.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`want a duration string such as "30m"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < time.Minute {
		return fmt.Errorf("duration %q: want at least 1m, e.g. \"30m\" or \"8h\"", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

type file struct {
	path  string
	rules Rules
}

// Policy is every policy file in force. Its methods are safe for
// concurrent use (it is read-only after Load) and on a nil receiver.
type Policy struct {
	files []file
}

// Load reads the machine-wide policy at systemPath (a missing file means no
// rules) and, if extraPath is set, that file too (which must exist).
func Load(systemPath, extraPath string) (*Policy, error) {
	p := &Policy{}
	if systemPath != "" {
		r, err := readFile(systemPath)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, err
		default:
			p.files = append(p.files, file{systemPath, *r})
		}
	}
	if extraPath != "" {
		r, err := readFile(extraPath)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w %s (%s): no such file", ErrInvalid, extraPath, EnvFile)
		}
		if err != nil {
			return nil, err
		}
		p.files = append(p.files, file{extraPath, *r})
	}
	return p, nil
}

func readFile(path string) (*Rules, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("%w %s: %v", ErrInvalid, path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w %s: not a regular file", ErrInvalid, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrInvalid, path, err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%w %s: larger than %d KiB", ErrInvalid, path, maxFileSize>>10)
	}
	r, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrInvalid, path, err)
	}
	return r, nil
}

// Parse reads one policy document: a JSON object of Rules, nothing else.
func Parse(b []byte) (*Rules, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r Rules
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("at byte %d: %v", dec.InputOffset(), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	for _, iss := range r.AllowedIssuers {
		if u, err := url.Parse(iss); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, fmt.Errorf("allowed_issuers: %q is not an http(s) URL", iss)
		}
	}
	for _, iss := range r.AllowedIdPIssuers {
		if u, err := url.Parse(iss); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, fmt.Errorf("allowed_idp_issuers: %q is not an http(s) URL", iss)
		}
	}
	for _, iss := range r.AssumePKCES256 {
		if u, err := url.Parse(iss); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") ||
			u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(iss, " \t\r\n") {
			return nil, fmt.Errorf("assume_pkce_s256: %q is not an issuer URL (http(s), no query, fragment or userinfo)", iss)
		}
	}
	for _, list := range [][]string{r.AllowedBackendHosts, r.AllowedAuthServerHosts} {
		for _, h := range list {
			if err := checkPattern(h); err != nil {
				return nil, err
			}
		}
	}
	return &r, nil
}

// Empty reports whether no policy file is in force.
func (p *Policy) Empty() bool { return p == nil || len(p.files) == 0 }

// Files lists the policy files in force.
func (p *Policy) Files() []string {
	if p == nil {
		return nil
	}
	out := make([]string, len(p.files))
	for i, f := range p.files {
		out[i] = f.path
	}
	return out
}

// RequireKeychain reports whether any file requires the OS keychain.
func (p *Policy) RequireKeychain() bool {
	return p.any(func(r Rules) bool { return r.RequireKeychain })
}

// DeviceGrantAllowed reports whether no file turns the device grant off.
func (p *Policy) DeviceGrantAllowed() bool {
	return !p.any(func(r Rules) bool { return r.DisableDeviceGrant })
}

// MaxTokenLifetime is the smallest cap on an access token's use; 0: none.
// ClientCredentialsAllowed reports whether the client_credentials mode
// may run (no disable_client_credentials).
func (p *Policy) ClientCredentialsAllowed() bool {
	return !p.any(func(r Rules) bool { return r.DisableClientCredentials })
}

// RequireDPoP reports whether a file requires DPoP (require_dpop).
func (p *Policy) RequireDPoP() bool {
	return p.any(func(r Rules) bool { return r.RequireDPoP })
}

func (p *Policy) MaxTokenLifetime() time.Duration {
	return p.min(func(r Rules) Duration { return r.MaxTokenLifetime })
}

// MaxSession is the smallest cap on a sign-in's use; 0: none.
func (p *Policy) MaxSession() time.Duration {
	return p.min(func(r Rules) Duration { return r.MaxSession })
}

func (p *Policy) any(f func(Rules) bool) bool {
	if p == nil {
		return false
	}
	for _, x := range p.files {
		if f(x.rules) {
			return true
		}
	}
	return false
}

func (p *Policy) min(f func(Rules) Duration) time.Duration {
	var out time.Duration
	if p == nil {
		return 0
	}
	for _, x := range p.files {
		if d := time.Duration(f(x.rules)); d > 0 && (out == 0 || d < out) {
			out = d
		}
	}
	return out
}

// CheckIssuer refuses an issuer that some file's allowed_issuers does not
// list (exact comparison, as the issuer itself is compared).
func (p *Policy) CheckIssuer(issuer string) error {
	if p == nil {
		return nil
	}
	for _, x := range p.files {
		if len(x.rules.AllowedIssuers) > 0 && !contains(x.rules.AllowedIssuers, issuer) {
			return fmt.Errorf("%w: the authorization server %q is not in allowed_issuers of %s", ErrDenied, issuer, x.path)
		}
	}
	return nil
}

// CheckIdPIssuer refuses an identity provider for cross-app access that
// some file's allowed_idp_issuers does not list (exact comparison); an
// empty list refuses every one.
func (p *Policy) CheckIdPIssuer(issuer string) error {
	if p == nil {
		return nil
	}
	for _, x := range p.files {
		switch l := x.rules.AllowedIdPIssuers; {
		case l == nil:
		case len(l) == 0:
			return fmt.Errorf("%w: cross-app access is turned off (allowed_idp_issuers is empty in %s)", ErrDenied, x.path)
		case !contains(l, issuer):
			return fmt.Errorf("%w: the identity provider %q is not in allowed_idp_issuers of %s", ErrDenied, issuer, x.path)
		}
	}
	return nil
}

// CheckBackend refuses a backend URL whose host some file does not allow.
func (p *Policy) CheckBackend(rawURL string) error {
	return p.checkHost(rawURL, "backend", "allowed_backend_hosts", func(r Rules) []string { return r.AllowedBackendHosts })
}

// CheckAuthServer refuses an authorization-server URL (the issuer or an
// endpoint) whose host some file does not allow.
func (p *Policy) CheckAuthServer(rawURL string) error {
	return p.checkHost(rawURL, "authorization server", "allowed_auth_server_hosts", func(r Rules) []string { return r.AllowedAuthServerHosts })
}

// NamesAuthServer reports whether some file's allowed_auth_server_hosts
// names u's host: the administrator vouches for it, even on a private
// address (oauth.PublicOnly).
func (p *Policy) NamesAuthServer(u *url.URL) bool {
	if p == nil {
		return false
	}
	for _, x := range p.files {
		if matchAny(x.rules.AllowedAuthServerHosts, u) {
			return true
		}
	}
	return false
}

func (p *Policy) checkHost(rawURL, what, setting string, list func(Rules) []string) error {
	if p == nil {
		return nil
	}
	for _, x := range p.files {
		pats := list(x.rules)
		if len(pats) == 0 {
			continue
		}
		u, err := url.Parse(rawURL)
		if err != nil || u.Host == "" {
			return fmt.Errorf("%w: the %s URL %q has no host", ErrDenied, what, rawURL)
		}
		if !matchAny(pats, u) {
			return fmt.Errorf("%w: the %s host %q is not in %s of %s", ErrDenied, what, u.Host, setting, x.path)
		}
	}
	return nil
}

// Summary describes the rules in force, one line each, for relay status.
func (p *Policy) Summary() []string {
	if p.Empty() {
		return nil
	}
	var out []string
	add := func(cond bool, s string, a ...any) {
		if cond {
			out = append(out, fmt.Sprintf(s, a...))
		}
	}
	for _, x := range p.files {
		r := x.rules
		out = append(out, "from "+x.path+":")
		add(r.RequireKeychain, "  vault key: OS keychain only")
		add(len(r.AllowedIssuers) > 0, "  issuers: %s", strings.Join(r.AllowedIssuers, " "))
		add(len(r.AllowedBackendHosts) > 0, "  backend hosts: %s", strings.Join(r.AllowedBackendHosts, " "))
		add(len(r.AllowedAuthServerHosts) > 0, "  authorization server hosts: %s", strings.Join(r.AllowedAuthServerHosts, " "))
		add(r.MaxTokenLifetime > 0, "  access token used at most %s", time.Duration(r.MaxTokenLifetime))
		add(r.MaxSession > 0, "  sign-in used at most %s", time.Duration(r.MaxSession))
		add(r.DisableDeviceGrant, "  device grant: off")
		add(r.DisableClientCredentials, "  client credentials: off")
		add(r.AllowedIdPIssuers != nil && len(r.AllowedIdPIssuers) == 0, "  cross-app access: off")
		add(len(r.AllowedIdPIssuers) > 0, "  identity providers (cross-app access): %s", strings.Join(r.AllowedIdPIssuers, " "))
		add(r.RequireDPoP, "  DPoP: required")
		add(r.AssumePKCES256 != nil && len(r.AssumePKCES256) == 0, "  PKCE S256 assumed for: no issuer")
		add(len(r.AssumePKCES256) > 0, "  PKCE S256 assumed for: %s (no other issuer)", strings.Join(r.AssumePKCES256, " "))
	}
	return out
}

// Assumption is an issuer for which the relay assumes PKCE with S256 when
// its metadata omits code_challenge_methods_supported, and who named it.
type Assumption struct {
	Issuer string `json:"issuer"`
	By     string `json:"by"` // a setting's name, or "assume_pkce_s256 of PATH"
}

// AssumePKCES256 says for which issuers the relay assumes PKCE with S256
// (oauth.AssumeS256), given user, the one issuer the user's setting named
// ("" for none), and name, the setting's name:
//   - when no file has assume_pkce_s256, the user's issuer alone;
//   - else the files decide: the issuers every file with the rule lists,
//     so that a second file can only narrow the list and [] forbids every
//     issuer; a user's issuer outside them is refused (ErrDenied).
//
// Issuers are compared exactly, as the metadata's issuer is.
func (p *Policy) AssumePKCES256(user, name string) ([]Assumption, error) {
	var limit []string
	from := ""
	if p != nil {
		for _, x := range p.files {
			list := x.rules.AssumePKCES256
			if list == nil {
				continue
			}
			if user != "" && !contains(list, user) {
				return nil, fmt.Errorf("%w: %s names %q, which assume_pkce_s256 of %s does not list", ErrDenied, name, user, x.path)
			}
			if from == "" {
				from, limit = x.path, append([]string{}, list...)
				continue
			}
			limit = slices.DeleteFunc(limit, func(s string) bool { return !contains(list, s) })
		}
	}
	if from == "" {
		if user == "" {
			return nil, nil
		}
		return []Assumption{{Issuer: user, By: name}}, nil
	}
	var out []Assumption
	for _, iss := range limit {
		if !slices.ContainsFunc(out, func(a Assumption) bool { return a.Issuer == iss }) {
			out = append(out, Assumption{Issuer: iss, By: "assume_pkce_s256 of " + from})
		}
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// WithoutKeychainRule returns the policy minus require_keychain, for
// logout: wiping must work on a vault made before the rule, and reading
// it to revoke its tokens only ever destroys them.
func (p *Policy) WithoutKeychainRule() *Policy {
	if p == nil {
		return nil
	}
	q := &Policy{files: append([]file(nil), p.files...)}
	for i := range q.files {
		q.files[i].rules.RequireKeychain = false
	}
	return q
}
