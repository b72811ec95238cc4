package bearer

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinHMACSecret is the shortest HS256 secret accepted (RFC 7518 §3.2).
const MinHMACSecret = 32

// Config holds what every Validator checks, whatever its mode.
type Config struct {
	// Issuer is compared with iss exactly: no trailing-slash, case or port
	// normalisation.
	Issuer string
	// Audience must be one of the token's aud values: the backend's
	// canonical URL (RFC 8707).
	Audience string
	// Leeway is allowed on exp, nbf and iat. Default 30 s.
	Leeway time.Duration
	// MaxLifetime bounds exp-iat. Default 24 h.
	MaxLifetime time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// CacheSize is how many verified tokens are remembered, so that a
	// token used again skips the signature check (its claims are checked
	// again each time). 0 means DefaultCacheSize; negative turns it off.
	CacheSize int
}

// Validator checks access tokens. It is safe for concurrent use.
type Validator struct {
	cfg     Config
	methods []string
	key     keyFunc
	close   func()
	cache   *verifiedCache
}

// keyFunc returns the key, or a jwt.VerificationKeySet of keys, that may
// verify a token signed with alg and carrying the kid header kid. It must
// be safe for concurrent use.
type keyFunc func(ctx context.Context, alg string, kid kidHeader) (any, error)

// NewHMAC returns a Validator for HS256 tokens signed with secret.
// It refuses a secret shorter than MinHMACSecret bytes. The Validator keeps
// its own copy, in no field that fmt, log/slog or encoding/json could
// print; the caller may wipe secret afterwards.
func NewHMAC(cfg Config, secret []byte) (*Validator, error) {
	if len(secret) < MinHMACSecret {
		return nil, fmt.Errorf("%w: JWT secret must be at least %d bytes", ErrConfig, MinHMACSecret)
	}
	var key any = append([]byte(nil), secret...) // boxed once, not per token
	return newValidator(cfg, []string{"HS256"}, func(context.Context, string, kidHeader) (any, error) {
		return key, nil
	}, nil)
}

func newValidator(cfg Config, methods []string, key keyFunc, closer func()) (*Validator, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, fmt.Errorf("%w: issuer and audience are required", ErrConfig)
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.MaxLifetime == 0 {
		cfg.MaxLifetime = 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if closer == nil {
		closer = func() {}
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	return &Validator{cfg: cfg, methods: methods, key: key, close: closer, cache: newVerifiedCache(cfg.CacheSize)}, nil
}

// Close stops background key refreshes, if any.
func (v *Validator) Close() { v.close() }

// The reasons a token is refused after parsing. They are fixed strings:
// nothing from the token reaches a log or a response.
const (
	reasonMalformed = "malformed token"
	reasonSignature = "bad signature or algorithm"
	reasonNoKey     = "no usable key"
	reasonExpired   = "token expired"
	reasonEarly     = "token not valid yet"
	reasonMissing   = "required claim missing"
	reasonIssuer    = "wrong issuer"
	reasonAudience  = "wrong audience"
	reasonLifetime  = "token lifetime too long"
	reasonSubject   = "sub missing or empty"
)

// Validate checks raw and returns what it says. Every failure wraps
// ErrInvalidToken and never contains the token.
//
// Each segment is decoded once. The checks and their order are those of
// golang-jwt's Parser with WithValidMethods, WithIssuer, WithAudience,
// WithExpirationRequired, WithIssuedAt, WithLeeway and WithStrictDecoding,
// preceded by parse's checks; the signature is checked by golang-jwt's
// SigningMethod for the token's alg.
func (v *Validator) Validate(ctx context.Context, raw string) (*Token, error) {
	if len(raw) > MaxTokenSize {
		return nil, invalid("token too large")
	}
	now := v.cfg.Now()
	var h [sha256.Size]byte
	if v.cache != nil {
		h = sha256.Sum256([]byte(raw))
		if e, ok := v.cache.get(h, now); ok {
			if err := v.checkClaims(&e.claims, now); err != nil {
				return nil, err
			}
			return tokenFrom(&e.claims, e.kid), nil
		}
	}
	var t parsed
	if err := t.parse(raw); err != nil {
		return nil, err
	}
	if t.claims.malformed {
		return nil, invalid(reasonMalformed)
	}
	m, sig, err := v.method(&t)
	if err != nil {
		return nil, err
	}
	if err := v.verify(ctx, &t, m, sig); err != nil {
		return nil, err
	}
	if err := v.checkClaims(&t.claims, now); err != nil {
		return nil, err
	}
	v.cache.put(h, &cacheEntry{claims: t.claims, kid: t.header.kid, added: now})
	return tokenFrom(&t.claims, t.header.kid), nil
}

// method returns the signing method of an allowed alg and the decoded
// signature. An alg golang-jwt does not know finds no key; one it knows but
// this Validator does not allow is a bad algorithm.
func (v *Validator) method(t *parsed) (jwt.SigningMethod, []byte, error) {
	if !t.header.algOK {
		return nil, nil, invalid(reasonNoKey)
	}
	m := jwt.GetSigningMethod(t.header.alg)
	if m == nil {
		return nil, nil, invalid(reasonNoKey)
	}
	sig, err := decodeSegment(t.sig)
	if err != nil {
		return nil, nil, invalid(reasonMalformed)
	}
	if !slices.Contains(v.methods, m.Alg()) {
		return nil, nil, invalid(reasonSignature)
	}
	return m, sig, nil
}

// verify checks the signature with the key, or each key, for the token.
func (v *Validator) verify(ctx context.Context, t *parsed, m jwt.SigningMethod, sig []byte) error {
	key, err := v.key(ctx, m.Alg(), t.header.kid)
	if err != nil {
		return invalid(reasonNoKey)
	}
	if set, ok := key.(jwt.VerificationKeySet); ok {
		if len(set.Keys) == 0 {
			return invalid(reasonNoKey)
		}
		for _, k := range set.Keys {
			if err = m.Verify(t.signing, sig, k); err == nil {
				break
			}
		}
	} else {
		err = m.Verify(t.signing, sig, key)
	}
	if err != nil {
		return invalid(reasonSignature)
	}
	return nil
}

// checkClaims applies golang-jwt's claim checks, then the lifetime bound,
// then the subject.
// When several fail, the reason is the one golang-jwt's joined error gave
// first: expiry, then not-yet-valid, a missing claim, iss, aud.
func (v *Validator) checkClaims(c *claims, now time.Time) error {
	leeway := v.cfg.Leeway
	var expired, early, missing, badIss, badAud bool
	if !c.ExpiresAt.set {
		missing = true
	} else if !now.Before(c.ExpiresAt.Add(leeway)) {
		expired = true
	}
	if c.NotBefore.set && now.Before(c.NotBefore.Add(-leeway)) {
		early = true
	}
	if c.IssuedAt.set && now.Before(c.IssuedAt.Add(-leeway)) {
		early = true
	}
	if aud := c.Audience; len(aud) == 0 || len(aud) == 1 && aud[0] == "" {
		missing = true
	} else if !slices.Contains(aud, v.cfg.Audience) {
		badAud = true
	}
	if c.Issuer == "" {
		missing = true
	} else if c.Issuer != v.cfg.Issuer {
		badIss = true
	}
	switch {
	case expired:
		return invalid(reasonExpired)
	case early:
		return invalid(reasonEarly)
	case missing:
		return invalid(reasonMissing)
	case badIss:
		return invalid(reasonIssuer)
	case badAud:
		return invalid(reasonAudience)
	}
	if err := v.checkLifetime(c, now); err != nil {
		return err
	}
	return checkSubject(c)
}

// checkSubject refuses a token without sub, or with an empty one (B28):
// RFC 9068 §2.2 requires it, and every such caller would share the data
// of the subject "".
func checkSubject(c *claims) error {
	if c.Subject == "" {
		return invalid(reasonSubject)
	}
	return nil
}

func (v *Validator) checkLifetime(c *claims, now time.Time) error {
	start := now
	if c.IssuedAt.set {
		start = c.IssuedAt.Time
	} else if c.NotBefore.set {
		start = c.NotBefore.Time
	}
	if c.ExpiresAt.Sub(start) > v.cfg.MaxLifetime {
		return invalid(reasonLifetime)
	}
	return nil
}
