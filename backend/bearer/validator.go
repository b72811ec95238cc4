package bearer

import (
	"context"
	"errors"
	"fmt"
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
}

// Validator checks access tokens. It is safe for concurrent use.
type Validator struct {
	cfg     Config
	methods []string
	key     func(context.Context, *jwt.Token) (any, error)
	close   func()
}

// NewHMAC returns a Validator for HS256 tokens signed with secret.
// It refuses a secret shorter than MinHMACSecret bytes.
func NewHMAC(cfg Config, secret []byte) (*Validator, error) {
	if len(secret) < MinHMACSecret {
		return nil, fmt.Errorf("%w: JWT secret must be at least %d bytes", ErrConfig, MinHMACSecret)
	}
	key := append([]byte(nil), secret...)
	return newValidator(cfg, []string{"HS256"}, func(context.Context, *jwt.Token) (any, error) {
		return key, nil
	}, nil)
}

func newValidator(cfg Config, methods []string, key func(context.Context, *jwt.Token) (any, error), closer func()) (*Validator, error) {
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
	return &Validator{cfg: cfg, methods: methods, key: key, close: closer}, nil
}

// Close stops background key refreshes, if any.
func (v *Validator) Close() { v.close() }

// Validate checks raw and returns what it says. Every failure wraps
// ErrInvalidToken and never contains the token.
func (v *Validator) Validate(ctx context.Context, raw string) (*Token, error) {
	if err := precheck(raw); err != nil {
		return nil, err
	}
	p := jwt.NewParser(
		jwt.WithValidMethods(v.methods),
		jwt.WithIssuer(v.cfg.Issuer),
		jwt.WithAudience(v.cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.cfg.Leeway),
		jwt.WithTimeFunc(v.cfg.Now),
		jwt.WithStrictDecoding(),
	)
	var c claims
	tok, err := p.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) { return v.key(ctx, t) })
	if err != nil {
		return nil, invalid(reason(err))
	}
	if err := v.checkLifetime(&c); err != nil {
		return nil, err
	}
	kid, _ := tok.Header["kid"].(string)
	return tokenFrom(&c, kid), nil
}

func (v *Validator) checkLifetime(c *claims) error {
	start := v.cfg.Now()
	if c.IssuedAt != nil {
		start = c.IssuedAt.Time
	} else if c.NotBefore != nil {
		start = c.NotBefore.Time
	}
	if c.ExpiresAt.Sub(start) > v.cfg.MaxLifetime {
		return invalid("token lifetime too long")
	}
	return nil
}

// reason maps golang-jwt's errors to short fixed descriptions, so nothing
// from the token reaches a log or a response.
func reason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature or algorithm"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "no usable key"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token not valid yet"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "required claim missing"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return "invalid claims"
	}
	return "invalid token"
}
