package bearer

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyrelay/keyrelay/internal/clientauth"
)

// ErrUnavailable means the token could not be checked because the
// introspection endpoint did not answer usefully. The caller must refuse
// the request (503 with Retry-After), never allow it.
var ErrUnavailable = errors.New("bearer: token check unavailable")

// Introspection defaults.
const (
	DefaultIntrospectionCache = 60 * time.Second
	negativeCacheTTL          = 5 * time.Second
	introspectTimeout         = 5 * time.Second
	maxIntrospectResponse     = 64 << 10
	maxIntrospectCache        = 8192
)

// IntrospectionConfig configures an Introspector (RFC 7662).
type IntrospectionConfig struct {
	// Issuer, when the response carries iss, must equal it exactly.
	Issuer string
	// Audience must be one of the response's aud values.
	Audience string
	// AllowNoAudience accepts a response without aud. Default false:
	// a token without an audience could have been meant for anyone.
	AllowNoAudience bool
	// Endpoint is the introspection endpoint URL.
	Endpoint string
	// ClientID and ClientSecret authenticate the backend to the endpoint
	// (client_secret_basic). The secret is copied into a closure, not a
	// printable field.
	ClientID, ClientSecret string
	// ClientKey, instead of ClientSecret, authenticates with private_key_jwt
	// (RFC 7523): a fresh assertion per request, aud = Issuer. EC P-256
	// (ES256), RSA of 2048 bits or more (RS256) or Ed25519 (EdDSA).
	ClientKey crypto.Signer
	// CacheTTL caps how long an active answer is reused; default 60 s.
	// Negative: never, so a revocation counts at the next request.
	CacheTTL time.Duration
	// JWT, if set, checks JWT-shaped tokens instead of introspecting them
	// (a mixed deployment). Nil introspects every token.
	JWT *Validator
	// Timeout bounds one introspection; default 5 s.
	Timeout time.Duration
	// Client is the HTTP client; default: Timeout, a 64 KiB cap.
	Client *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Introspector checks tokens by asking the authorization server about
// them (RFC 7662). It is safe for concurrent use. Answers are cached by
// the token's SHA-256; concurrent checks of one token share one request.
type Introspector struct {
	cfg IntrospectionConfig
	// The backend's client authentication: assert adds a private_key_jwt
	// assertion to the form; basic sets client_secret_basic. One is nil.
	assert func(form url.Values, now time.Time) error
	basic  func(*http.Request)
	mu     sync.Mutex
	cache  map[[sha256.Size]byte]introEntry
	flight map[[sha256.Size]byte]*introCall
}

type introEntry struct {
	tok   *Token // nil: refused
	err   error
	until time.Time
}

type introCall struct {
	waiters atomic.Int32 // callers sharing this request, for tests
	done    chan struct{}
	tok     *Token
	err     error
}

// NewIntrospector returns an Introspector for cfg.
func NewIntrospector(cfg IntrospectionConfig) (*Introspector, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, fmt.Errorf("%w: issuer and audience are required", ErrConfig)
	}
	if err := CheckURL(cfg.Endpoint); err != nil {
		// The backend's client secret goes there: https, or loopback.
		return nil, fmt.Errorf("%w: introspection endpoint: %v", ErrConfig, err)
	}
	if cfg.ClientID == "" || (cfg.ClientSecret == "") == (cfg.ClientKey == nil) {
		return nil, fmt.Errorf("%w: introspection needs the backend's client id, and its secret or its key", ErrConfig)
	}
	var key *clientauth.Key
	if cfg.ClientKey != nil {
		var err error
		if key, err = clientauth.KeyFor(cfg.ClientKey); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrConfig, err)
		}
		cfg.ClientKey = nil
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultIntrospectionCache
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = introspectTimeout
	}
	if cfg.Client == nil {
		cfg.Client = CappedClient(cfg.Timeout, maxIntrospectResponse)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	in := &Introspector{
		cfg:    cfg,
		cache:  make(map[[sha256.Size]byte]introEntry),
		flight: make(map[[sha256.Size]byte]*introCall),
	}
	if key != nil {
		in.assert = func(form url.Values, now time.Time) error {
			a, err := clientauth.Assertion(key, cfg.ClientID, cfg.Issuer, now)
			if err != nil {
				return err
			}
			form.Set("client_id", cfg.ClientID)
			form.Set("client_assertion_type", clientauth.AssertionType)
			form.Set("client_assertion", a)
			return nil
		}
		return in, nil
	}
	id, sec := url.QueryEscape(cfg.ClientID), url.QueryEscape(cfg.ClientSecret)
	in.cfg.ClientSecret = ""
	in.basic = func(r *http.Request) { r.SetBasicAuth(id, sec) } // RFC 6749 §2.3.1 form-encodes both
	return in, nil
}

// Close releases the JWT validator, if any.
func (in *Introspector) Close() {
	if in.cfg.JWT != nil {
		in.cfg.JWT.Close()
	}
}

// jwtShaped reports whether raw looks like a JWS compact serialisation.
func jwtShaped(raw string) bool { return strings.Count(raw, ".") == 2 }

// Validate checks raw. A refused token wraps ErrInvalidToken; an endpoint
// that cannot answer gives ErrUnavailable. Neither error holds the token
// or anything from the response.
func (in *Introspector) Validate(ctx context.Context, raw string) (*Token, error) {
	if in.cfg.JWT != nil && jwtShaped(raw) {
		return in.cfg.JWT.Validate(ctx, raw)
	}
	if raw == "" {
		return nil, invalid(reasonMalformed)
	}
	if len(raw) > MaxTokenSize {
		return nil, invalid("token too large")
	}
	h := sha256.Sum256([]byte(raw))
	now := in.cfg.Now()
	in.mu.Lock()
	if e, ok := in.cache[h]; ok {
		if now.Before(e.until) {
			in.mu.Unlock()
			if e.tok == nil {
				return nil, e.err
			}
			return in.recheck(e.tok, now)
		}
		delete(in.cache, h)
	}
	if c, ok := in.flight[h]; ok {
		in.mu.Unlock()
		c.waiters.Add(1)
		select {
		case <-c.done:
			return c.tok, c.err
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
		}
	}
	c := &introCall{done: make(chan struct{})}
	in.flight[h] = c
	in.mu.Unlock()

	// The request runs detached from one caller's context, so a caller
	// that gives up does not fail the others waiting on it.
	c.tok, c.err = in.introspect(raw, now)
	in.mu.Lock()
	delete(in.flight, h)
	switch {
	case c.err == nil && in.cfg.CacheTTL < 0:
	case c.err == nil:
		until := now.Add(in.cfg.CacheTTL)
		if c.tok.Expiry.Before(until) {
			until = c.tok.Expiry
		}
		in.put(h, introEntry{tok: c.tok, until: until})
	case errors.Is(c.err, ErrInvalidToken):
		in.put(h, introEntry{err: c.err, until: now.Add(negativeCacheTTL)})
	}
	in.mu.Unlock()
	close(c.done)
	return c.tok, c.err
}

// put stores e; in.mu is held. When full, an arbitrary entry makes room.
func (in *Introspector) put(h [sha256.Size]byte, e introEntry) {
	if len(in.cache) >= maxIntrospectCache {
		for k := range in.cache {
			delete(in.cache, k)
			break
		}
	}
	in.cache[h] = e
}

// recheck applies the time check to a cached answer.
func (in *Introspector) recheck(t *Token, now time.Time) (*Token, error) {
	if !now.Before(t.Expiry) {
		return nil, invalid(reasonExpired)
	}
	return t, nil
}

// introResponse is the part of an RFC 7662 response the backend reads.
type introResponse struct {
	Active    bool            `json:"active"`
	Scope     string          `json:"scope"`
	ClientID  string          `json:"client_id"`
	TokenType string          `json:"token_type"`
	TokenUse  string          `json:"token_use"` // Ory Hydra: access_token or refresh_token
	Exp       *float64        `json:"exp"`
	Iat       *float64        `json:"iat"`
	Sub       string          `json:"sub"`
	Aud       json.RawMessage `json:"aud"`
	Iss       string          `json:"iss"`
	Jti       string          `json:"jti"`
	Cnf       *struct {
		JKT string `json:"jkt"`
	} `json:"cnf"`
}

func (in *Introspector) introspect(raw string, now time.Time) (*Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), in.cfg.Timeout)
	defer cancel()
	form := url.Values{"token": {raw}, "token_type_hint": {"access_token"}}
	if in.assert != nil {
		if err := in.assert(form, now); err != nil {
			return nil, fmt.Errorf("%w: the client assertion could not be signed", ErrUnavailable)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.cfg.Endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%w: bad endpoint", ErrUnavailable)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if in.basic != nil {
		in.basic(req)
	}
	resp, err := in.cfg.Client.Do(req)
	if err != nil {
		// Not err itself: a *url.Error names the URL only, but keep the
		// text fixed anyway.
		if errors.Is(err, ErrTooLarge) {
			return nil, fmt.Errorf("%w: introspection response too large", ErrUnavailable)
		}
		return nil, fmt.Errorf("%w: introspection endpoint unreachable", ErrUnavailable)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxIntrospectResponse))
		return nil, fmt.Errorf("%w: introspection endpoint answered %d", ErrUnavailable, resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, fmt.Errorf("%w: introspection response too large", ErrUnavailable)
		}
		return nil, fmt.Errorf("%w: introspection response unreadable", ErrUnavailable)
	}
	var r introResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%w: introspection response is not the expected JSON", ErrUnavailable)
	}
	return in.check(&r, now)
}

// check applies what a token must show. The reasons are fixed strings.
func (in *Introspector) check(r *introResponse, now time.Time) (*Token, error) {
	if !r.Active {
		return nil, invalid("token not active")
	}
	if r.Iss != "" && r.Iss != in.cfg.Issuer {
		return nil, invalid(reasonIssuer)
	}
	aud, err := audList(r.Aud)
	if err != nil {
		return nil, invalid(reasonMalformed)
	}
	if len(aud) == 0 {
		if !in.cfg.AllowNoAudience {
			return nil, invalid("aud missing")
		}
	} else if !slices.Contains(aud, in.cfg.Audience) {
		return nil, invalid(reasonAudience)
	}
	if r.Exp == nil {
		return nil, invalid("exp missing")
	}
	exp := time.Unix(int64(*r.Exp), 0)
	if !now.Before(exp) {
		return nil, invalid(reasonExpired)
	}
	if r.Sub == "" {
		return nil, invalid(reasonSubject)
	}
	if r.TokenType != "" && !strings.EqualFold(r.TokenType, "access_token") && !strings.EqualFold(r.TokenType, "Bearer") && !strings.EqualFold(r.TokenType, "DPoP") {
		return nil, invalid("not an access token")
	}
	// RFC 7662's token_type is the kind of access token (Bearer), so it
	// cannot tell a refresh token apart: Ory Hydra answers a refresh token
	// with token_type Bearer, active, and token_use refresh_token.
	if r.TokenUse != "" && !strings.EqualFold(r.TokenUse, "access_token") {
		return nil, invalid("not an access token")
	}
	if r.Cnf != nil && r.Cnf.JKT == "" {
		// A confirmation this package does not understand: the token is
		// bound to something, so it is not a bearer token either.
		return nil, invalid("unsupported token binding")
	}
	iss := r.Iss
	if iss == "" {
		iss = in.cfg.Issuer
	}
	t := &Token{Subject: r.Sub, Issuer: iss, Audience: aud, ClientID: r.ClientID,
		Scopes: strings.Fields(r.Scope), ID: r.Jti, Expiry: exp}
	if r.Cnf != nil {
		t.JKT = r.Cnf.JKT
	}
	if r.Iat != nil {
		t.IssuedAt = time.Unix(int64(*r.Iat), 0)
	}
	return t, nil
}

// audList reads aud: absent, null, a string or an array of strings.
func audList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, nil
		}
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, err
	}
	return many, nil
}
